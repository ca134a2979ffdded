// The replay generator: candidate files from a folder (*.py, sorted by name) or from a
// recorded run (candidates/NNNN/candidate.py), in order, no network.
#include <set>

#include "kopt/core/generator.hpp"
#include "kopt/util/text.hpp"

namespace kopt::core {

namespace {

class ReplayGenerator final : public Generator {
 public:
  explicit ReplayGenerator(std::vector<std::string> files) : m_files(std::move(files)) {}
  std::string name() const override { return "replay"; }

  void restore(const std::vector<CandidateRecord>& records) override {
    for (const auto& r : records)
      if (r.origin.rfind("replay:", 0) == 0) m_used.insert(r.origin.substr(7));
  }

  std::vector<Proposal> propose(const RoundRequest& request) override {
    std::vector<Proposal> out;
    for (const auto& file : m_files) {
      if (static_cast<int>(out.size()) >= request.count) break;
      if (m_used.count(file)) continue;
      m_used.insert(file);
      Proposal p;
      p.origin = "replay:" + file;
      // A recorded run's files are all candidate.py: name them by their folder.
      const std::string base = file.substr(file.rfind('/') + 1);
      const std::string folder = file.substr(0, file.rfind('/'));
      // A file name may hold terminal escapes: the strategy is printed and logged.
      p.strategy = util::strip_control(base == "candidate.py" ? "run candidate " + folder.substr(folder.rfind('/') + 1) : base);
      auto code = read_text(file);
      if (!code) {
        p.status = "provider_error";
        p.message = "cannot read " + file;
      } else {
        p.code = std::move(*code);
      }
      out.push_back(std::move(p));
    }
    return out;
  }

  bool exhausted() const override {
    for (const auto& f : m_files)
      if (!m_used.count(f)) return false;
    return true;
  }

 private:
  std::vector<std::string> m_files;
  std::set<std::string> m_used;
};

}  // namespace

Result<std::unique_ptr<Generator>> make_replay_generator(const std::string& from) {
  if (!is_directory(from)) return Failure{"usage", "--from " + from + " is not a folder"};
  std::vector<std::string> files;
  if (is_directory(from + "/candidates")) {
    for (const auto& name : list_dir(from + "/candidates")) {
      const std::string path = from + "/candidates/" + name + "/candidate.py";
      if (is_regular_file(path)) files.push_back(path);
    }
  } else {
    for (const auto& name : list_dir(from))
      if (name.size() > 3 && name.compare(name.size() - 3, 3, ".py") == 0 && is_regular_file(from + "/" + name))
        files.push_back(from + "/" + name);
  }
  if (files.empty())
    return Failure{"usage", "--from " + from + " holds no *.py files and no recorded run (candidates/*/candidate.py)"};
  return std::unique_ptr<Generator>(std::make_unique<ReplayGenerator>(std::move(files)));
}

}  // namespace kopt::core
