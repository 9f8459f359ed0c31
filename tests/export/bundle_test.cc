// The serving bundle end to end on a tiny synthetic run: `grec export` writes every file with a
// manifest whose sha256 values `sha256sum` agrees with; loading it back gives bit-identical weights
// and logits and the same semantic-ID token ids; the independent Python reference reproduces the
// exported LLM's logits; a corrupted or missing file is named at load; `grec recommend` gives the
// rankings stage evaluate scored (LLM) and stage sasrec ranked (student); bad input is one error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "data_pipeline/dataset.h"
#include "eval/split_cases.h"
#include "export/bundle.h"
#include "export/sha256.h"
#include "export/student.h"
#include "model/causal_lm.h"
#include "stages/export_run.h"
#include "tests/model/llm_test_util.h"
#include "tests/test_util/shell.h"
#include "tests/test_util/temp_dir.h"
#include "tokenizer/text_tokenizer.h"
#include "tokenizer/vocab_extension.h"

namespace {

namespace fs = std::filesystem;
using grec::test::run_shell;

// One tiny run shared by every test process: the pipeline caches its stages, so after the first
// test the run takes seconds; flock keeps two test processes from running it at once.
const fs::path& run_root() {
  static const fs::path root = [] {
    const fs::path dir = fs::path(GREC_BINARY).parent_path() / "test_runs" / "export";
    fs::create_directories(dir);
    const fs::path config = dir / "tiny.yaml";
    std::ofstream(config) << "run: { name: tiny, dir: " << (dir / "runs").string() << " }\n"
                          << "dist: { threads: 1 }\n"
                          << "ingest:\n  format: synth\n  synth: { users: 120, items: 50, seed: 5 }\n"
                          << "sasrec:\n  hidden: 16\n  max_len: 20\n"
                          << "  train: { epochs: 2, global_batch_size: 64 }\n"
                          << "rqvae:\n  codebook_size: 8\n  train: { epochs: 200 }\n"
                          << "align:\n  prompt_template: \"{instruction}\\n\"\n"
                          << "  model: { hidden: 32, layers: 1, heads: 2, kv_heads: 1, intermediate: 64 }\n"
                          << "  tokenizer: { vocab_size: 400 }\n  valid: { users: 10, num_beams: 8 }\n"
                          << "  weights: { fusionseqrec: 0.1 }\n"
                          << "  train: { max_steps: 8, global_batch_size: 32, lr: 3.0e-3 }\n"
                          << "evaluate: { num_beams: 8, ks: [1, 5, 8] }\n";
    const auto r = run_shell("flock " + (dir / "lock").string() + " " + GREC_BINARY + " run " +
                             config.string());
    if (r.code != 0) throw std::runtime_error("the tiny run failed:\n" + r.out);
    return dir / "runs" / "tiny";
  }();
  return root;
}

grec::test::ShellResult grec_cmd(const std::string& args) {
  return run_shell(std::string(GREC_BINARY) + " " + args);
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(std::ifstream(p)); }

class Bundle : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = run_root();
    out_ = tmp_.path() / "bundle";
  }
  fs::path export_bundle(const std::string& extra = "") {
    const auto r = grec_cmd("export " + root_.string() + " --out " + out_.string() + " " + extra);
    EXPECT_EQ(r.code, 0) << r.out;
    return out_;
  }
  grec::test::TempDir tmp_{"bundle"};
  fs::path root_, out_;
};

TEST_F(Bundle, ManifestListsEveryFileWithTheSha256OfSha256sum) {
  export_bundle();
  for (const char* f : {"manifest.json", "items.jsonl", "trie.json", "prompt.json", "llm/config.json",
                        "llm/generation_config.json", "llm/model.safetensors", "llm/tokenizer.model",
                        "llm/tokenizer_config.json", "student/model.safetensors", "student/config.json"}) {
    EXPECT_TRUE(fs::exists(out_ / f)) << f;
  }
  const auto m = read_json(out_ / "manifest.json");
  EXPECT_EQ(m["format"], "grec-bundle");
  EXPECT_EQ(m["models"], nlohmann::json::array({"llm", "student"}));
  EXPECT_EQ(m["dataset"]["items"], 50);
  EXPECT_TRUE(m["stage_keys"].contains("align"));
  EXPECT_TRUE(m["sources"]["llm"]["evaluate"]["test"].contains("HR@8"));
  EXPECT_TRUE(m["sources"]["student"]["sasrec"]["test"].contains("HR@10"));
  std::set<std::string> listed;
  for (const auto& [rel, info] : m["files"].items()) {
    listed.insert(rel);
    const auto r = run_shell("sha256sum " + (out_ / rel).string());
    ASSERT_EQ(r.code, 0);
    EXPECT_EQ(r.out.substr(0, 64), info["sha256"].get<std::string>()) << rel;
    EXPECT_EQ(static_cast<int64_t>(fs::file_size(out_ / rel)), info["bytes"].get<int64_t>()) << rel;
  }
  for (const auto& e : fs::recursive_directory_iterator(out_)) {
    const std::string rel = fs::relative(e.path(), out_).generic_string();
    if (e.is_regular_file() && rel != "manifest.json") EXPECT_TRUE(listed.count(rel)) << rel;
  }
  // Nothing temporary is left beside the bundle.
  for (const auto& e : fs::directory_iterator(tmp_.path())) {
    EXPECT_EQ(e.path().filename(), "bundle");
  }
  // items.jsonl: one line per item, raw ids and codes as in the run.
  const auto d = grec::data::read_dataset((root_ / "artifacts/ingest/dataset.h5").string());
  std::ifstream items(out_ / "items.jsonl");
  std::string line;
  int64_t n = 0;
  while (std::getline(items, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["id"], n);
    EXPECT_EQ(j["raw_id"], d.item_raw_ids[n]);
    EXPECT_EQ(j["semantic_id"].size(), m["semantic_id_levels"].size());
    ++n;
  }
  EXPECT_EQ(n, d.num_items());
}

TEST_F(Bundle, LoadsBackWithBitIdenticalWeightsLogitsAndTokenIds) {
  export_bundle();
  const auto b = grec::bundle::load_bundle(out_.string());
  ASSERT_TRUE(b->has_llm());
  ASSERT_TRUE(b->has_student());
  const std::string align = (root_ / "artifacts/align/model").string();
  auto orig = grec::model::load_hf(align);
  orig->eval();
  auto exported = orig->named_parameters();
  auto loaded = b->llm->named_parameters();
  ASSERT_EQ(exported.size(), loaded.size());
  for (const auto& p : exported) {
    ASSERT_TRUE(loaded.contains(p.key())) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), loaded[p.key()])) << p.key();
  }
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(0, orig->config().vocab_size, {2, 9}, torch::kLong);
  grec::model::CausalLM lm = b->llm;
  EXPECT_TRUE(torch::equal(orig->forward(ids), lm->forward(ids)));
  // Every semantic-ID token keeps its id, and each is an added special token of the tokenizer.
  auto tok = grec::tok::load_tokenizer(align);
  const auto levels = b->manifest["semantic_id_levels"].get<std::vector<int64_t>>();
  EXPECT_EQ(grec::tok::semantic_token_ids(*tok, levels), b->token_ids);
  const auto tc = read_json(out_ / "llm/tokenizer_config.json");
  int64_t sid_tokens = 0, want = 0;
  for (const auto& [id, t] : tc["added_tokens_decoder"].items()) {
    const std::string content = t["content"];
    if (content.size() > 3 && content[0] == '<' && content[2] == '_') {
      ++sid_tokens;
      EXPECT_TRUE(t["special"].get<bool>()) << content;
    }
  }
  for (int64_t s : levels) want += s;
  EXPECT_EQ(sid_tokens, want);
  const auto cfg = read_json(out_ / "llm/config.json");
  EXPECT_EQ(cfg["vocab_size"].get<int64_t>(), b->llm->config().vocab_size);
  EXPECT_GE(cfg["vocab_size"].get<int64_t>(), tok->vocab_size());
  const auto gen = read_json(out_ / "llm/generation_config.json");
  EXPECT_EQ(gen["num_beams"], 8);
  EXPECT_EQ(gen["max_new_tokens"], static_cast<int64_t>(levels.size()));
  // The student is the sasrec stage's model, bit for bit.
  const auto st_a = grec::bundle::load_student((root_ / "artifacts/sasrec").string());
  for (const auto& p : st_a->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), b->student->named_parameters()[p.key()])) << p.key();
  }
}

TEST_F(Bundle, PythonReferenceReproducesTheExportedLogits) {
  if (!grec::test::python_torch_available()) GTEST_SKIP() << "python3 with torch not available";
  export_bundle();
  auto lm = grec::model::load_hf((out_ / "llm").string());
  lm->eval();
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(0, lm->config().vocab_size, {2, 7}, torch::kLong);
  const auto ours = lm->forward(ids);
  const auto ref = grec::test::reference_logits((out_ / "llm").string(), ids);
  const double scale = std::max(1.0, ref.abs().max().item<double>());
  EXPECT_LE((ours - ref).abs().max().item<double>() / scale, 1e-5);
}

TEST_F(Bundle, Bf16AndShardedExportsLoadTheSameWeights) {
  grec::bundle::ExportOptions o;
  o.dtype = "bf16";
  o.max_shard_bytes = 20000;  // forces several shards and the index
  grec::stages::export_run_dir(root_.string(), out_.string(), o, "test");
  EXPECT_TRUE(fs::exists(out_ / "llm/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(out_ / "llm/model.safetensors"));
  EXPECT_EQ(read_json(out_ / "llm/config.json")["torch_dtype"], "bfloat16");
  const auto b = grec::bundle::load_bundle(out_.string());
  auto orig = grec::model::load_hf((root_ / "artifacts/align/model").string());
  auto loaded = b->llm->named_parameters();
  for (const auto& p : orig->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value().to(torch::kBFloat16).to(torch::kFloat), loaded[p.key()])) << p.key();
  }
  // Exporting over an existing bundle needs overwrite.
  EXPECT_THROW(grec::stages::export_run_dir(root_.string(), out_.string(), o, "test"), grec::UserError);
}

TEST_F(Bundle, ACorruptedOrMissingFileIsNamedAtLoad) {
  export_bundle();
  {
    std::fstream f(out_ / "llm/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-5, std::ios::end);
    f.put('\x7f');
  }
  try {
    grec::bundle::load_bundle(out_.string());
    FAIL() << "a corrupted file loaded";
  } catch (const grec::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("llm/model.safetensors"), std::string::npos) << e.what();
  }
  const auto r = grec_cmd("recommend " + out_.string() + " --history 1,2");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("llm/model.safetensors does not match its sha256"), std::string::npos) << r.out;
  fs::remove(out_ / "trie.json");
  try {
    grec::bundle::load_bundle(out_.string(), {/*verify=*/false});
    FAIL() << "a bundle without trie.json loaded";
  } catch (const grec::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("trie.json is missing"), std::string::npos) << e.what();
  }
}

// HR@K and NDCG@K of ranked lists against targets (a miss counts zero), as stage evaluate does.
std::map<std::string, double> list_metrics(const std::vector<std::vector<std::string>>& lists,
                                           const std::vector<std::string>& targets,
                                           const std::vector<int64_t>& ks) {
  std::map<std::string, double> m;
  for (size_t i = 0; i < lists.size(); ++i) {
    const auto it = std::find(lists[i].begin(), lists[i].end(), targets[i]);
    const int64_t r = it == lists[i].end() ? 0 : (it - lists[i].begin()) + 1;
    for (int64_t k : ks) {
      m["HR@" + std::to_string(k)] += (r > 0 && r <= k) ? 1 : 0;
      if (k > 1) m["NDCG@" + std::to_string(k)] += (r > 0 && r <= k) ? 1 / std::log2(r + 1.0) : 0;
    }
  }
  for (auto& [k, v] : m) v /= lists.size();
  return m;
}

TEST_F(Bundle, RecommendGivesTheRankingsEvaluateScoredAndSASRecRanked) {
  export_bundle();
  const auto d = grec::data::read_dataset((root_ / "artifacts/ingest/dataset.h5").string());
  const auto cases = grec::eval::split_cases(d, "test");
  ASSERT_GT(cases.size(), 50u);
  std::ofstream in(tmp_.path() / "users.jsonl");
  std::vector<std::string> targets;
  for (const auto& c : cases) {
    nlohmann::json h = nlohmann::json::array();
    for (int64_t k = 0; k < d.valid_end[c.user]; ++k) h.push_back(d.item_raw_ids[d.sequence(c.user)[k]]);
    in << nlohmann::json({{"user", d.user_raw_ids[c.user]}, {"history", h}}).dump() << "\n";
    targets.push_back(d.item_raw_ids[c.target]);
  }
  in.close();
  const std::string users = (tmp_.path() / "users.jsonl").string();
  const auto read_lists = [](const fs::path& p) {
    std::vector<std::vector<std::string>> lists;
    std::ifstream f(p);
    std::string line;
    while (std::getline(f, line)) {
      // Hold the parsed line: a range-for over a member of a temporary would dangle.
      const auto j = nlohmann::json::parse(line);
      lists.emplace_back();
      for (const auto& it : j.at("items")) lists.back().push_back(it.at("id"));
    }
    return lists;
  };
  // LLM: the metrics of the lists equal evaluate's (the same prompts, beams and batches).
  auto r = grec_cmd("recommend " + out_.string() + " --input " + users + " --output " +
                    (tmp_.path() / "llm.jsonl").string() + " -k 8 --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto llm = read_lists(tmp_.path() / "llm.jsonl");
  ASSERT_EQ(llm.size(), cases.size());
  const auto ev = read_json(root_ / "artifacts/evaluate/results.json")["test"]["llm"];
  ASSERT_EQ(ev["users"].get<size_t>(), cases.size());
  for (const auto& [key, value] : list_metrics(llm, targets, {1, 5, 8})) {
    EXPECT_NEAR(value, ev[key].get<double>(), 1e-12) << key;
  }
  // Two ranks shard the users and give the same lists.
  r = run_shell("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + std::string(GREC_MPIEXEC) + " -n 2 --oversubscribe --bind-to none " + GREC_BINARY +
                " recommend " + out_.string() + " --input " + users + " --output " +
                (tmp_.path() / "llm2.jsonl").string() + " -k 8 --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(read_lists(tmp_.path() / "llm2.jsonl"), llm);
  // Student: the target's place in its full list is the rank stage sasrec gave that case.
  const auto case_ranks = read_json(root_ / "artifacts/sasrec/case_ranks.json");
  const bool masked = case_ranks.value("mask_history", false);
  r = grec_cmd("recommend " + out_.string() + " --input " + users + " --output " +
               (tmp_.path() / "student.jsonl").string() + " --model student -k 50" +
               (masked ? " --exclude-history" : ""));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto student = read_lists(tmp_.path() / "student.jsonl");
  const auto& ranks = case_ranks["test"];
  std::map<int64_t, int64_t> rank_of;
  for (size_t i = 0; i < ranks["users"].size(); ++i) rank_of[ranks["users"][i]] = ranks["ranks"][i];
  int64_t checked = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    ASSERT_TRUE(rank_of.count(cases[i].user)) << "user " << cases[i].user;
    // Evaluation keeps a target that also occurs in the history; the list leaves it out.
    const int64_t* seq = d.sequence(cases[i].user);
    if (masked && std::count(seq, seq + d.valid_end[cases[i].user], cases[i].target)) continue;
    const auto it = std::find(student[i].begin(), student[i].end(), targets[i]);
    ASSERT_NE(it, student[i].end()) << "user " << cases[i].user;
    EXPECT_EQ((it - student[i].begin()) + 1, rank_of[cases[i].user]) << "user " << cases[i].user;
    ++checked;
  }
  EXPECT_GT(checked, static_cast<int64_t>(cases.size()) / 2);
}

TEST_F(Bundle, BadInputIsOneErrorAndWritesNothing) {
  auto r = grec_cmd("export " + tmp_.path().string() + " --out " + out_.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("is not a grec run folder"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out_));
  export_bundle();
  r = grec_cmd("export " + root_.string() + " --out " + out_.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("already exists"), std::string::npos) << r.out;
  r = grec_cmd("recommend " + out_.string() + " --history nope,never");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("none of the history's item ids is in the bundle: nope, never"), std::string::npos) << r.out;
  r = grec_cmd("recommend " + out_.string() + " --history nope -k 99");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("k must be in [1, 8]"), std::string::npos) << r.out;
  r = grec_cmd("recommend " + tmp_.path().string() + " --history 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("is not a grec bundle"), std::string::npos) << r.out;
  // Some unknown ids: a warning, and the known ones are used.
  const auto b = grec::bundle::load_bundle(out_.string());
  r = grec_cmd("recommend " + out_.string() + " --json --history nope," + b->items[3].raw_id);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("unknown item ids skipped: nope"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["items"].size(), 8u);
}

TEST_F(Bundle, TheExportStageWritesTheBundleAndLeavesTheOtherStagesCached) {
  const fs::path config = root_.parent_path().parent_path() / "tiny.yaml";
  const auto r = run_shell("flock " + (root_.parent_path().parent_path() / "lock").string() + " " +
                           GREC_BINARY + " run " + config.string() + " --set export.enabled=true" +
                           " --set export.out=" + out_.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\\nalign +cached "))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\\nexport +done "))) << r.out;
  EXPECT_TRUE(fs::exists(out_ / "manifest.json"));
  EXPECT_NO_THROW(grec::bundle::load_bundle(out_.string()));
}

}  // namespace
