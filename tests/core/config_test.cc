// Config: schema checks, error messages (key path, file:line, expected type), base files,
// overrides, dump/hash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "tests/test_util/temp_dir.h"

namespace grec {
namespace {

namespace fs = std::filesystem;

ConfigSchema schema() {
  ConfigSchema s;
  s.add_string("run.name", "demo", "run name");
  s.add_int("sasrec.train.epochs", 10, "epochs");
  s.add_float("sasrec.train.lr", 1e-3, "learning rate");
  s.add_bool("sasrec.eval.mask_history", false, "mask history");
  s.add_choice("sasrec.loss", "ce", {"ce", "bce", "sampled_softmax"}, "loss");
  s.add_int_list("sasrec.eval.ks", {5, 10}, "cut-offs");
  s.add_string_list("align.tasks", {"seqrec"}, "tasks");
  s.add_required("ingest.input", ConfigType::kString, "path of the raw data");
  return s;
}

class ConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const auto p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  // The message of the UserError thrown by `f`, or "" when none.
  template <typename F>
  static std::string error_of(F f) {
    try {
      f();
    } catch (const UserError& e) {
      return e.what();
    }
    return "";
  }
  test::TempDir tmp_{"config"};
  const fs::path dir_ = tmp_.path();
};

TEST_F(ConfigTest, LoadsValuesAndDefaults) {
  auto p = write("a.yaml", "ingest:\n  input: data/u.data\nsasrec:\n  train:\n    lr: 0.01\n");
  Config c = Config::load(schema(), p);
  EXPECT_EQ(c.get_string("ingest.input"), "data/u.data");
  EXPECT_DOUBLE_EQ(c.get_float("sasrec.train.lr"), 0.01);
  EXPECT_EQ(c.get_int("sasrec.train.epochs"), 10);
  EXPECT_EQ(c.get_int_list("sasrec.eval.ks"), (std::vector<int64_t>{5, 10}));
  EXPECT_EQ(c.origin("sasrec.train.lr"), p + ":5");
  EXPECT_EQ(c.origin("sasrec.train.epochs"), "default");
  EXPECT_TRUE(c.is_set("sasrec.train.lr"));
  EXPECT_FALSE(c.is_set("sasrec.train.epochs"));
}

TEST_F(ConfigTest, UnknownKeyNamesPathFileLineAndSuggestion) {
  auto p = write("a.yaml", "ingest:\n  input: x\nsasrec:\n  trian:\n    lr: 0.1\n");
  const std::string msg = error_of([&] { Config::load(schema(), p); });
  EXPECT_NE(msg.find("unknown config key 'sasrec.trian'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(p + ":4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'sasrec.train'"), std::string::npos) << msg;
}

TEST_F(ConfigTest, UnknownLeafKey) {
  auto p = write("a.yaml", "ingest:\n  input: x\n  inptu2: y\n");
  const std::string msg = error_of([&] { Config::load(schema(), p); });
  EXPECT_NE(msg.find("unknown config key 'ingest.inptu2' (" + p + ":3)"), std::string::npos)
      << msg;
}

TEST_F(ConfigTest, WrongTypeNamesKeyExpectedTypeAndValue) {
  auto p = write("a.yaml", "ingest:\n  input: x\nsasrec:\n  train:\n    epochs: many\n");
  const std::string msg = error_of([&] { Config::load(schema(), p); });
  EXPECT_NE(msg.find("config key 'sasrec.train.epochs' expects an integer, got 'many'"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(p + ":5"), std::string::npos) << msg;

  auto q = write("b.yaml", "ingest:\n  input: x\nsasrec:\n  train:\n    epochs: 1.5\n");
  EXPECT_NE(error_of([&] { Config::load(schema(), q); }).find("expects an integer, got '1.5'"),
            std::string::npos);
  auto r = write("c.yaml", "ingest:\n  input: x\nsasrec:\n  eval:\n    ks: 5\n");
  EXPECT_NE(error_of([&] { Config::load(schema(), r); })
                .find("'sasrec.eval.ks' expects a list of integers, got '5'"),
            std::string::npos);
  auto s = write("d.yaml", "ingest:\n  input: x\nsasrec: 3\n");
  EXPECT_NE(error_of([&] { Config::load(schema(), s); })
                .find("'sasrec' is a section and expects a mapping"),
            std::string::npos);
}

TEST_F(ConfigTest, ChoiceIsChecked) {
  auto p = write("a.yaml", "ingest:\n  input: x\nsasrec:\n  loss: mse\n");
  const std::string msg = error_of([&] { Config::load(schema(), p); });
  EXPECT_NE(msg.find("'sasrec.loss' must be one of ce, bce, sampled_softmax, got 'mse'"),
            std::string::npos)
      << msg;
}

TEST_F(ConfigTest, MissingRequiredKeyIsNamed) {
  auto p = write("a.yaml", "run:\n  name: x\n");
  const std::string msg = error_of([&] { Config::load(schema(), p); });
  EXPECT_NE(msg.find("missing required config key 'ingest.input' (path of the raw data)"),
            std::string::npos)
      << msg;
}

TEST_F(ConfigTest, BaseIsExtendedAndOverridden) {
  write("base.yaml", "ingest:\n  input: base_input\nsasrec:\n  train:\n    epochs: 3\n    lr: 0.5\n");
  auto p = write("child.yaml", "base: base.yaml\nsasrec:\n  train:\n    lr: 0.25\n");
  Config c = Config::load(schema(), p);
  EXPECT_EQ(c.get_string("ingest.input"), "base_input");
  EXPECT_EQ(c.get_int("sasrec.train.epochs"), 3);
  EXPECT_DOUBLE_EQ(c.get_float("sasrec.train.lr"), 0.25);
  EXPECT_EQ(c.origin("sasrec.train.epochs"), (dir_ / "base.yaml").string() + ":5");
}

TEST_F(ConfigTest, BaseCycleIsAnError) {
  write("x.yaml", "base: y.yaml\n");
  auto p = write("y.yaml", "base: x.yaml\n");
  EXPECT_NE(error_of([&] { Config::load(schema(), p); }).find("extends itself"),
            std::string::npos);
}

TEST_F(ConfigTest, OverridesWinAndAreChecked) {
  auto p = write("a.yaml", "ingest:\n  input: x\nsasrec:\n  train:\n    lr: 0.01\n");
  Config c = Config::load(schema(), p,
                          {"sasrec.train.lr=0.5", "sasrec.eval.ks=[1,20]", "align.tasks=[a, b]"});
  EXPECT_DOUBLE_EQ(c.get_float("sasrec.train.lr"), 0.5);
  EXPECT_EQ(c.get_int_list("sasrec.eval.ks"), (std::vector<int64_t>{1, 20}));
  EXPECT_EQ(c.get_string_list("align.tasks"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.origin("sasrec.train.lr"), "--set sasrec.train.lr=0.5");

  EXPECT_NE(error_of([&] { Config::load(schema(), p, {"sasrec.train.lrr=1"}); })
                .find("unknown config key 'sasrec.train.lrr' (--set sasrec.train.lrr=1); did you "
                      "mean 'sasrec.train.lr'?"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Config::load(schema(), p, {"sasrec.train.epochs=x"}); })
                .find("expects an integer, got 'x' (--set sasrec.train.epochs=x)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Config::load(schema(), p, {"novalue"}); })
                .find("--set expects key.sub=value"),
            std::string::npos);
}

TEST_F(ConfigTest, DumpRoundTripsAndHashFollowsValues) {
  auto p = write("a.yaml", "ingest:\n  input: x\nsasrec:\n  train:\n    lr: 1e-3\n");
  Config c = Config::load(schema(), p);
  auto q = write("dump.yaml", c.dump());
  Config d = Config::load(schema(), q);
  EXPECT_EQ(c.dump(), d.dump());
  EXPECT_EQ(c.hash(), d.hash());
  // 1e-3 and 0.001 are the same value: same hash.
  auto r = write("b.yaml", "ingest:\n  input: x\nsasrec:\n  train:\n    lr: 0.001\n");
  EXPECT_EQ(Config::load(schema(), r).hash(), c.hash());
  EXPECT_NE(c.with("sasrec.train.lr", "0.002").hash(), c.hash());
  // A section hash ignores other sections.
  EXPECT_EQ(c.with("run.name", "other").hash({"sasrec"}), c.hash({"sasrec"}));
  EXPECT_NE(c.with("sasrec.loss", "bce").hash({"sasrec"}), c.hash({"sasrec"}));
}

// A section that inherits another's keys (distill.train from sasrec.train): unset keys follow the
// other section's value, set or default; set keys keep their own; a later override of the source
// is followed; the dump holds the inherited values, so reloading it gives the same config.
TEST_F(ConfigTest, InheritedSectionFollowsItsSourceAndDumpReproduces) {
  ConfigSchema s = schema();
  s.add_int("distill.train.epochs", 99, "epochs");
  s.add_float("distill.train.lr", 5.0, "learning rate");
  s.add_int("distill.train.own", 3, "a key sasrec.train does not have");
  s.inherit("distill.train", "sasrec.train");
  EXPECT_EQ(s.inherited_from("distill.train.lr"), "sasrec.train.lr");
  EXPECT_EQ(s.inherited_from("distill.train.own"), "");
  EXPECT_EQ(s.inherited_from("sasrec.train.lr"), "");
  auto p = write("a.yaml", "ingest: { input: x }\nsasrec: { train: { epochs: 7 } }\n"
                           "distill: { train: { lr: 0.02 } }\n");
  Config c = Config::load(s, p);
  EXPECT_EQ(c.get_int("distill.train.epochs"), 7);        // sasrec.train's file value
  EXPECT_DOUBLE_EQ(c.get_float("distill.train.lr"), 0.02);  // its own
  EXPECT_EQ(c.get_int("distill.train.own"), 3);
  EXPECT_FALSE(c.is_set("distill.train.epochs"));
  EXPECT_EQ(c.origin("distill.train.epochs"), "inherited from 'sasrec.train.epochs' (" + p + ":2)");
  Config d = c.with("sasrec.train.epochs", "11");  // after the first read cached 7
  EXPECT_EQ(d.get_int("distill.train.epochs"), 11);
  Config e = Config::load(s, p, {"sasrec.train.lr=0.5"});
  EXPECT_DOUBLE_EQ(e.get_float("distill.train.lr"), 0.02);
  EXPECT_DOUBLE_EQ(Config::load(s, write("b.yaml", "ingest: { input: x }\n"))
                       .get_float("distill.train.lr"), 1e-3);  // sasrec.train's default, not 5
  Config r = Config::load(s, write("resolved.yaml", d.dump()));
  EXPECT_EQ(r.get_int("distill.train.epochs"), 11);
  EXPECT_EQ(r.dump(), d.dump());
  EXPECT_EQ(r.hash({"distill"}), d.hash({"distill"}));
  EXPECT_NE(c.hash({"distill"}), d.hash({"distill"}));  // the key follows the inherited value
}

TEST_F(ConfigTest, YamlSyntaxErrorNamesLine) {
  auto p = write("a.yaml", "ingest:\n  input: [unclosed\n");
  const std::string msg = error_of([&] { Config::load(schema(), p); });
  EXPECT_NE(msg.find(p + ":"), std::string::npos) << msg;
  EXPECT_NE(msg.find("YAML syntax error"), std::string::npos) << msg;
}

TEST_F(ConfigTest, MissingFileIsAUserError) {
  EXPECT_NE(error_of([&] { Config::load(schema(), (dir_ / "nope.yaml").string()); })
                .find("does not exist"),
            std::string::npos);
}

}  // namespace
}  // namespace grec
