// parse_recommend_request (serve/request.cc): defaults, numeric ids, and one case per kind of bad
// body, each with its status and a message that names the problem.
#include <gtest/gtest.h>

#include <string>

#include "serve/request.h"

namespace grec::serve {
namespace {

ModelCatalog both() { return ModelCatalog{{{"llm", 20}, {"student", 500}}}; }
ModelCatalog student_only() { return ModelCatalog{{{"student", 500}}}; }

// The error of a body expected to be rejected with 400.
std::string rejected(const std::string& body, const ModelCatalog& catalog = both()) {
  const auto r = parse_recommend_request(body, catalog);
  EXPECT_FALSE(r.ok) << body;
  EXPECT_EQ(r.status, 400) << body;
  return r.error;
}

TEST(Request, DefaultsWhenOnlyHistoryIsGiven) {
  const auto r = parse_recommend_request(R"({"history": ["1193", "661"]})", both());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.query.history, (std::vector<std::string>{"1193", "661"}));
  EXPECT_EQ(r.query.k, 10);
  EXPECT_EQ(r.query.model, "llm");
  EXPECT_FALSE(r.query.exclude_history);
}

TEST(Request, DefaultModelIsTheStudentWithoutAnLlm) {
  const auto r = parse_recommend_request(R"({"history": ["1"]})", student_only());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.query.model, "student");
}

TEST(Request, DefaultKIsCappedByTheModel) {
  const auto r = parse_recommend_request(R"({"history": ["1"]})", ModelCatalog{{{"llm", 4}}});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.query.k, 4);
}

TEST(Request, AllFieldsAreRead) {
  const auto r = parse_recommend_request(
      R"({"history": ["a"], "k": 500, "model": "student", "exclude_history": true})", both());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.query.k, 500);
  EXPECT_EQ(r.query.model, "student");
  EXPECT_TRUE(r.query.exclude_history);
}

TEST(Request, IntegerIdsBecomeTheirDecimalText) {
  const auto r =
      parse_recommend_request(R"({"history": [1193, "x", -5, 18446744073709551615]})", both());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.query.history,
            (std::vector<std::string>{"1193", "x", "-5", "18446744073709551615"}));
}

TEST(Request, MalformedJsonSaysWhere) {
  const auto e = rejected(R"({"history": ["1",]})");
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
  EXPECT_NE(e.find("byte 18"), std::string::npos) << e;
  EXPECT_EQ(e.find("json.exception"), std::string::npos) << e;
}

TEST(Request, EmptyBody) { EXPECT_NE(rejected("  \n").find("body is empty"), std::string::npos); }

TEST(Request, BodyMustBeAnObject) {
  EXPECT_NE(rejected(R"(["1", "2"])").find("must be a JSON object, not an array"),
            std::string::npos);
  EXPECT_NE(rejected("42").find("must be a JSON object, not a number"), std::string::npos);
}

TEST(Request, UnknownFieldsAreNamed) {
  auto e = rejected(R"({"histroy": ["1"]})");
  EXPECT_NE(e.find("unknown field 'histroy'"), std::string::npos) << e;
  e = rejected(R"({"history": ["1"], "top_k": 3, "temp": 1})");
  EXPECT_NE(e.find("unknown fields 'temp', 'top_k'"), std::string::npos) << e;
}

TEST(Request, HistoryProblems) {
  EXPECT_NE(rejected(R"({"k": 3})").find("'history' is missing"), std::string::npos);
  EXPECT_NE(rejected(R"({"history": "1193"})").find("'history' must be an array"),
            std::string::npos);
  EXPECT_NE(rejected(R"({"history": []})").find("'history' is empty"), std::string::npos);
  auto e = rejected(R"({"history": ["1", {"id": 2}]})");
  EXPECT_NE(e.find("'history[1]'"), std::string::npos) << e;
  EXPECT_NE(e.find("not an object"), std::string::npos) << e;
  e = rejected(R"({"history": ["1", null]})");
  EXPECT_NE(e.find("'history[1]'"), std::string::npos) << e;
  e = rejected(R"({"history": [2.5]})");
  EXPECT_NE(e.find("'history[0]' is the non-integer number 2.5"), std::string::npos) << e;
}

TEST(Request, KMustBeAnIntegerInRange) {
  auto e = rejected(R"({"history": ["1"], "k": 0})");
  EXPECT_NE(e.find("between 1 and 20 for model 'llm', got 0"), std::string::npos) << e;
  e = rejected(R"({"history": ["1"], "k": 21})");
  EXPECT_NE(e.find("got 21"), std::string::npos) << e;
  e = rejected(R"({"history": ["1"], "k": -3})");
  EXPECT_NE(e.find("got -3"), std::string::npos) << e;
  // The range is the chosen model's.
  EXPECT_TRUE(parse_recommend_request(R"({"history": ["1"], "k": 21, "model": "student"})", both())
                  .ok);
  e = rejected(R"({"history": ["1"], "k": 501, "model": "student"})");
  EXPECT_NE(e.find("between 1 and 500 for model 'student'"), std::string::npos) << e;
  e = rejected(R"({"history": ["1"], "k": "5"})");
  EXPECT_NE(e.find("'k' must be an integer"), std::string::npos) << e;
  e = rejected(R"({"history": ["1"], "k": 2.5})");
  EXPECT_NE(e.find("not 2.5"), std::string::npos) << e;
  e = rejected(R"({"history": ["1"], "k": null})");
  EXPECT_NE(e.find("not a null"), std::string::npos) << e;
  e = rejected(R"({"history": ["1"], "k": 99999999999999999999})");  // parsed as a float
  EXPECT_NE(e.find("'k' must be an integer"), std::string::npos) << e;
  e = rejected(R"({"history": ["1"], "k": 18446744073709551615})");
  EXPECT_NE(e.find("between 1 and 20"), std::string::npos) << e;
}

TEST(Request, UnknownModelListsTheAvailableOnes) {
  auto e = rejected(R"({"history": ["1"], "model": "gpt"})");
  EXPECT_NE(e.find("unknown model 'gpt' (this server has: llm, student)"), std::string::npos) << e;
  e = rejected(R"({"history": ["1"], "model": "llm"})", student_only());
  EXPECT_NE(e.find("this server has: student"), std::string::npos) << e;
  e = rejected(R"({"history": ["1"], "model": 1})");
  EXPECT_NE(e.find("'model' must be a string"), std::string::npos) << e;
}

TEST(Request, ExcludeHistoryMustBeABoolean) {
  auto e = rejected(R"({"history": ["1"], "exclude_history": "yes"})");
  EXPECT_NE(e.find("'exclude_history' must be true or false, not \"yes\""), std::string::npos)
      << e;
  e = rejected(R"({"history": ["1"], "exclude_history": 1})");
  EXPECT_NE(e.find("not 1"), std::string::npos) << e;
}

TEST(Request, CatalogHelpers) {
  const auto c = both();
  EXPECT_EQ(c.names(), "llm, student");
  ASSERT_NE(c.find("student"), nullptr);
  EXPECT_EQ(c.find("student")->max_k, 500);
  EXPECT_EQ(c.find("other"), nullptr);
  EXPECT_EQ(ModelCatalog{}.default_model(), "");
}

}  // namespace
}  // namespace grec::serve
