import sys

line = "x" * 1023 + "\n"
for _ in range(100 * 1024):
    sys.stdout.write(line)
