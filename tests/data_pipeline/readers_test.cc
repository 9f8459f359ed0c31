// Every ingest format on small files written by the test: MovieLens 100K (latin-1 titles) and
// 1M, seqtxt (plain, presplit, item JSONL), Amazon (2014/2018, .gz, Python-literal metadata),
// csv (header, indices, quotes, item table).
#include <gtest/gtest.h>

#include "data_pipeline/ingest.h"
#include "tests/data_pipeline/data_test_util.h"

namespace grec::data {
namespace {

using test::TempDir;
using test::write_gz;
using test::write_text;

int64_t item_of(const Dataset& d, const std::string& raw) {
  for (size_t i = 0; i < d.item_raw_ids.size(); ++i) {
    if (d.item_raw_ids[i] == raw) return int64_t(i);
  }
  return -1;
}

std::vector<std::string> raw_sequence(const Dataset& d, int64_t u) {
  std::vector<std::string> s;
  for (int64_t k = 0; k < d.length(u); ++k) s.push_back(d.item_raw_ids[size_t(d.sequence(u)[k])]);
  return s;
}

TEST(Readers, Movielens100kWithLatin1Titles) {
  TempDir dir;
  // user item rating time; user 2 rates item 10 twice (the later duplicate is dropped).
  write_text(dir.sub("u.data"),
             "1\t10\t5\t300\n1\t2\t3\t100\n2\t10\t4\t50\n1\t7\t4\t200\n2\t10\t1\t60\n");
  auto genre_flags = [](int on1, int on2) {
    std::string s;
    for (int k = 0; k < 19; ++k) s += (k == on1 || k == on2) ? "|1" : "|0";
    return s;
  };
  // "Caf\xe9" is latin-1 for Café.
  write_text(dir.sub("u.item"),
             "2|Caf\xe9 Society (1995)|01-Jan-1995||http://x" + genre_flags(5, 8) +
                 "\n7|Seven (1995)|01-Jan-1995||u" + genre_flags(16, -1) + "\n10|Ten (1996)|||u" +
                 genre_flags(1, -1) + "\n99|Unrated (1990)|||u" + genre_flags(0, -1) + "\n");
  IngestOptions o;
  o.format = "movielens";
  o.input = dir.path().string();
  Dataset d = ingest(o);
  ASSERT_EQ(d.num_users(), 2);
  EXPECT_EQ(d.num_items(), 3);  // item 99 has no ratings
  EXPECT_EQ(d.num_interactions(), 4);
  EXPECT_EQ(d.item_raw_ids, (std::vector<std::string>{"2", "7", "10"}));  // numeric order
  EXPECT_EQ(d.user_raw_ids, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(raw_sequence(d, 0), (std::vector<std::string>{"2", "7", "10"}));  // by time
  EXPECT_EQ(d.inter_time[0], 100);
  EXPECT_FLOAT_EQ(d.inter_rating[3], 4.0f);  // user 2's first rating of item 10 is kept
  EXPECT_EQ(d.item_text.at("title")[0], "Caf\xc3\xa9 Society (1995)");
  EXPECT_EQ(d.item_text.at("genres")[0], "Comedy, Drama");
  EXPECT_EQ(d.item_text.at("genres")[1], "Thriller");
  EXPECT_EQ(d.attrs["dropped_duplicates"], 1);
}

TEST(Readers, Movielens1mDoubleColon) {
  TempDir dir;
  write_text(dir.sub("ratings.dat"),
             "1::1193::5::978300760\n1::661::3::978302109\n"
             "2::1193::4.5::978298413\n");
  write_text(dir.sub("movies.dat"),
             "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
             "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n");
  IngestOptions o;
  o.format = "movielens";
  o.input = dir.sub("ratings.dat");  // a file inside the folder is accepted too
  Dataset d = ingest(o);
  EXPECT_EQ(d.num_users(), 2);
  EXPECT_EQ(d.num_items(), 2);
  EXPECT_EQ(d.item_raw_ids[0], "661");
  EXPECT_EQ(d.item_text.at("genres")[0], "Animation, Children's, Musical");
  EXPECT_FLOAT_EQ(d.inter_rating[2], 4.5f);
}

TEST(Readers, SeqtxtWithItemJsonl) {
  TempDir dir;
  write_text(dir.sub("seq.txt"), "1 1 2 3 4\n2 3 4\n1 5\n\n3 2\n");
  write_text(dir.sub("items.jsonl"),
             "{\"item_id\": 1, \"title\": \"One\", \"categories\": [\"A\", \"B\"], \"price\": 3}\n"
             "{\"item_id\": \"3\", \"title\": \"Three\", \"raw_id\": \"x9\"}\n");
  IngestOptions o;
  o.format = "seqtxt";
  o.input = dir.sub("seq.txt");
  o.items = dir.sub("items.jsonl");
  Dataset d = ingest(o);
  ASSERT_EQ(d.num_users(), 3);
  EXPECT_EQ(raw_sequence(d, 0), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(d.item_text.at("title")[size_t(item_of(d, "1"))], "One");
  EXPECT_EQ(d.item_text.at("categories")[size_t(item_of(d, "1"))], "A, B");
  EXPECT_EQ(d.item_text.at("source_id")[size_t(item_of(d, "3"))], "x9");
  EXPECT_EQ(d.item_text.at("title")[size_t(item_of(d, "2"))], "");
  EXPECT_FALSE(d.item_text.count("price"));
  EXPECT_EQ(d.attrs["timestamp_kind"], "order");
  // Leave-one-out: user 1 (5 items) -> 3/1/1; user 2 (2 items) and 3 (1 item) -> all train.
  EXPECT_EQ(d.train_end, (std::vector<int64_t>{3, 2, 1}));
  EXPECT_EQ(d.valid_end, (std::vector<int64_t>{4, 2, 1}));
}

TEST(Readers, SeqtxtPresplitKeepsTheSourceSplit) {
  TempDir dir;
  write_text(dir.sub("sequential_train.txt"), "1 10 11 12\n2 11\n3 12 13\n");
  write_text(dir.sub("sequential_valid.txt"), "1 13\n2\n3 10 14\n");
  write_text(dir.sub("sequential_test.txt"), "1 14 15\n2 12\n3\n");
  IngestOptions o;
  o.format = "seqtxt";
  o.input = dir.sub("sequential_train.txt");
  Dataset d = ingest(o);
  ASSERT_EQ(d.num_users(), 3);
  EXPECT_EQ(d.attrs["split"], "source");
  EXPECT_EQ(raw_sequence(d, 0), (std::vector<std::string>{"10", "11", "12", "13", "14", "15"}));
  EXPECT_EQ(d.train_end, (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(d.valid_end, (std::vector<int64_t>{4, 1, 4}));
  // The folder works as input, and --split loo replaces the source split.
  o.input = dir.path().string();
  o.split = "loo";
  Dataset l = ingest(o);
  EXPECT_EQ(l.attrs["split"], "leave_one_out");
  EXPECT_EQ(l.train_end, (std::vector<int64_t>{4, 2, 2}));
  EXPECT_EQ(l.valid_end, (std::vector<int64_t>{5, 2, 3}));
}

const char* kReviews2014 =
    "{\"reviewerID\": \"A1\", \"asin\": \"B002\", \"overall\": 5.0, \"unixReviewTime\": 1300, "
    "\"reviewText\": \"great\"}\n"
    "{\"reviewerID\": \"A1\", \"asin\": \"B001\", \"overall\": 2.0, \"unixReviewTime\": 1200}\n"
    "{\"reviewerID\": \"A2\", \"asin\": \"B002\", \"overall\": 4.0, \"unixReviewTime\": 1100, "
    "\"reviewText\": \"caf\\u00e9 ok\"}\n";

TEST(Readers, Amazon2014GzipWithPythonLiteralMetadata) {
  TempDir dir;
  write_gz(dir.sub("reviews.json.gz"), kReviews2014);
  // 2014 metadata: Python dict literals with single quotes.
  write_gz(dir.sub("meta.json.gz"),
           "{'asin': 'B001', 'title': \"Kid's Shampoo\", 'brand': 'Acme', 'categories': "
           "[['Beauty', 'Hair Care'], ['Beauty', 'Bath']], 'salesRank': {'Beauty': 5}, "
           "'imUrl': 'http://x'}\n"
           "{'asin': 'B002', 'description': 'Soft\\nand mild', 'title': u'Cr\\xe8me'}\n");
  IngestOptions o;
  o.format = "amazon";
  o.input = dir.sub("reviews.json.gz");
  o.items = dir.sub("meta.json.gz");
  Dataset d = ingest(o);
  ASSERT_EQ(d.num_users(), 2);
  EXPECT_EQ(d.item_raw_ids, (std::vector<std::string>{"B001", "B002"}));
  EXPECT_EQ(raw_sequence(d, 0), (std::vector<std::string>{"B001", "B002"}));  // by time
  EXPECT_EQ(d.inter_text.at("review"), (std::vector<std::string>{"", "great", "caf\xc3\xa9 ok"}));
  EXPECT_FLOAT_EQ(d.inter_rating[0], 2.0f);
  EXPECT_EQ(d.item_text.at("title")[0], "Kid's Shampoo");
  EXPECT_EQ(d.item_text.at("categories")[0], "Beauty > Hair Care, Beauty > Bath");
  EXPECT_EQ(d.item_text.at("brand")[0], "Acme");
  EXPECT_EQ(d.item_text.at("title")[1], "Cr\xc3\xa8me");
  EXPECT_EQ(d.item_text.at("description")[1], "Soft\nand mild");
  EXPECT_FALSE(d.item_text.count("imUrl"));
}

TEST(Readers, Amazon2018PlainJson) {
  TempDir dir;
  write_text(dir.sub("reviews.json"), kReviews2014);
  write_text(dir.sub("meta.json"),
             "{\"asin\": \"B001\", \"title\": \"T1\", \"category\": [\"Beauty\", \"Hair\"], "
             "\"description\": [\"line one\", \"line two\"], \"also_buy\": [\"B002\"]}\n");
  IngestOptions o;
  o.format = "amazon";
  o.input = dir.sub("reviews.json");
  o.items = dir.sub("meta.json");
  Dataset d = ingest(o);
  EXPECT_EQ(d.item_text.at("categories")[0], "Beauty, Hair");
  EXPECT_EQ(d.item_text.at("description")[0], "line one, line two");
  EXPECT_EQ(d.item_text.at("title")[1], "");
  EXPECT_FALSE(d.item_text.count("also_buy"));
}

TEST(Readers, CsvWithHeaderQuotesAndItemTable) {
  TempDir dir;
  write_text(dir.sub("events.csv"), "ts,who,what,stars\n30,u1,i2,4\n10,u1,\"i1\",5\n20,u2,i1,3\n");
  write_text(dir.sub("items.csv"),
             "id,title,genre\ni1,\"Hello, world\",x\ni2,\"Say \"\"hi\"\"\",y\n");
  IngestOptions o;
  o.format = "csv";
  o.input = dir.sub("events.csv");
  o.items = dir.sub("items.csv");
  o.csv.user = "who";
  o.csv.item = "what";
  o.csv.timestamp = "ts";
  o.csv.rating = "stars";
  o.csv.item_id = "id";
  Dataset d = ingest(o);
  ASSERT_EQ(d.num_users(), 2);
  EXPECT_EQ(raw_sequence(d, 0), (std::vector<std::string>{"i1", "i2"}));
  EXPECT_EQ(d.item_text.at("title")[0], "Hello, world");
  EXPECT_EQ(d.item_text.at("title")[1], "Say \"hi\"");
  EXPECT_EQ(d.item_text.at("genre")[1], "y");
  EXPECT_FLOAT_EQ(d.inter_rating[0], 5.0f);
  EXPECT_EQ(d.inter_time, (std::vector<int64_t>{10, 30, 20}));
}

TEST(Readers, CsvTabsWithoutHeader) {
  TempDir dir;
  write_text(dir.sub("events.tsv"), "a\tx\t2\nb\ty\t1\na\ty\t1\n");
  IngestOptions o;
  o.format = "csv";
  o.input = dir.sub("events.tsv");
  o.csv.delimiter = "\\t";
  o.csv.header = false;
  o.csv.user = "0";
  o.csv.item = "1";
  o.csv.timestamp = "2";
  Dataset d = ingest(o);
  EXPECT_EQ(raw_sequence(d, 0), (std::vector<std::string>{"y", "x"}));
  EXPECT_FALSE(d.has_rating());
}

}  // namespace
}  // namespace grec::data
