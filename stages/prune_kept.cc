// kept.h5; see prune_kept.h.
#include "stages/prune_kept.h"

#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "core/h5.h"

namespace grec::stages {

std::string kept_path(const RunDir& run) { return run.artifacts("prune") + "/kept.h5"; }

void write_prune_table(const std::string& path, const PruneTable& t, const std::string& dataset) {
  const size_t n = t.keys.size();
  GREC_CHECK(t.influence.size() == n && t.effort.size() == n && t.score.size() == n &&
                 t.stratum.size() == n && t.kept.size() == n,
             "prune table columns of different lengths");
  std::vector<int64_t> users(n), ends(n);
  for (size_t i = 0; i < n; ++i) {
    users[i] = t.keys[i].user;
    ends[i] = t.keys[i].end;
  }
  const std::string tmp = path + ".tmp";
  {
    h5::File f = h5::File::create(tmp);
    f.write_i64("/user", users);
    f.write_i64("/end", ends);
    f.write_f64("/influence", t.influence);
    f.write_f64("/effort", t.effort);
    f.write_f64("/score", t.score);
    f.write_i64("/stratum", t.stratum);
    f.write_i64("/kept", t.kept);
    f.set_attr("/", "method", t.method);
    f.set_attr("/", "budget", t.budget);
    f.set_attr("/", "num_samples", static_cast<int64_t>(n));
    f.set_attr("/", "dataset", dataset);
  }
  std::filesystem::rename(tmp, path);
}

PruneTable read_prune_table(const std::string& path) {
  h5::File f = h5::File::open(path);
  PruneTable t;
  const auto users = f.read_i64("/user"), ends = f.read_i64("/end");
  t.influence = f.read_f64("/influence");
  t.effort = f.read_f64("/effort");
  t.score = f.read_f64("/score");
  t.stratum = f.read_i64("/stratum");
  t.kept = f.read_i64("/kept");
  const size_t n = users.size();
  if (ends.size() != n || t.influence.size() != n || t.effort.size() != n || t.score.size() != n ||
      t.stratum.size() != n || t.kept.size() != n) {
    user_error("{}: columns of different lengths", path);
  }
  for (size_t i = 0; i < n; ++i) t.keys.push_back({users[i], ends[i]});
  t.method = f.attr_string("/", "method");
  t.budget = f.attr_i64("/", "budget");
  return t;
}

std::vector<char> read_kept_prefixes(const RunDir& run, const data::Dataset& dataset) {
  const std::string path = kept_path(run);
  if (!std::filesystem::exists(path)) {
    user_error("{} does not exist: prune.keep is set, so stage prune must run before align "
               "(grec stage prune CONFIG)", path);
  }
  const PruneTable t = read_prune_table(path);
  std::vector<char> kept(dataset.num_interactions(), 0);
  for (size_t i = 0; i < t.keys.size(); ++i) {
    const data::PrefixKey& k = t.keys[i];
    if (k.user < 0 || k.user >= dataset.num_users() || k.end < 1 || k.end >= dataset.train_end[k.user]) {
      user_error("{}: sample (user {}, end {}) is not a training prefix of this dataset: rerun "
                 "stage prune", path, k.user, k.end);
    }
    if (t.kept[i]) kept[dataset.seq_offsets[k.user] + k.end] = 1;
  }
  return kept;
}

}  // namespace grec::stages
