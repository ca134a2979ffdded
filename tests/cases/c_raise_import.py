raise RuntimeError("this candidate does not build")
