// Ingestion speed, as JSON lines: ML-100K end-to-end ingest (read, process, write dataset.h5;
// target < 2 s) and the parse rate of a generated 1M-line csv interaction file (target >= 1M
// lines/s on one core), next to a plain std::getline + strtol reading of the same file.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/log.h"
#include "data_pipeline/ingest.h"
#include "data_pipeline/readers.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

template <typename F>
double best_of(int runs, F&& f) {
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

// "user,item,rating,timestamp" lines with a header; deterministic LCG contents.
void write_csv(const std::string& path, int64_t lines) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("user,item,rating,timestamp\n", f);
  uint64_t x = 12345;
  for (int64_t k = 0; k < lines; ++k) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    std::fprintf(f, "%llu,%llu,%llu,%lld\n", (unsigned long long)((x >> 33) % 60000),
                 (unsigned long long)((x >> 17) % 30000), (unsigned long long)(1 + (x >> 5) % 5),
                 (long long)(1500000000 + k * 7));
  }
  std::fclose(f);
}

// The reference: what a straightforward C++ reader does (getline, then strtol per field).
int64_t reference_parse(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  int64_t sum = 0, n = 0;
  while (std::getline(in, line)) {
    const char* p = line.c_str();
    char* end = nullptr;
    for (int k = 0; k < 4; ++k) {
      sum += std::strtol(p, &end, 10);
      p = end + 1;
    }
    ++n;
  }
  return sum + n;
}

// The same work as grec's reader in plain C++: getline, split on ',', strtol/strtod, and raw ids
// interned through std::unordered_map<std::string, int>.
int64_t reference_parse_interning(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::unordered_map<std::string, int> users, items;
  std::vector<int> u, i;
  std::vector<int64_t> t;
  std::vector<float> r;
  while (std::getline(in, line)) {
    const size_t a = line.find(','), b = line.find(',', a + 1), c = line.find(',', b + 1);
    u.push_back(users.emplace(line.substr(0, a), int(users.size())).first->second);
    i.push_back(items.emplace(line.substr(a + 1, b - a - 1), int(items.size())).first->second);
    r.push_back(std::strtof(line.c_str() + b + 1, nullptr));
    t.push_back(std::strtoll(line.c_str() + c + 1, nullptr, 10));
  }
  return int64_t(u.size() + i.size() + users.size());
}

// The shared datasets: $GREC_SHARED_DATASETS, else the compile definition when the build gives
// one, else ../shared/datasets next to the source tree (where the tests look).
std::string shared_datasets() {
  if (const char* env = std::getenv("GREC_SHARED_DATASETS")) return env;
#ifdef GREC_SHARED_DATASETS
  return GREC_SHARED_DATASETS;
#else
  return (fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "datasets")
      .string();
#endif
}

}  // namespace

int main() {
  grec::log::init({});
  spdlog::set_level(spdlog::level::warn);
  const fs::path tmp =
      fs::temp_directory_path() / ("grec_bench_ingest_" + std::to_string(getpid()));
  fs::create_directories(tmp);

  // 1. ML-100K.
  const std::string ml = shared_datasets() + "/ml-100k";
  if (fs::exists(ml + "/u.data")) {
    grec::data::IngestOptions o;
    o.format = "movielens";
    o.input = ml;
    nlohmann::json stats;
    const double s =
        best_of(3, [&] { stats = grec::data::ingest_to_file(o, (tmp / "ml.h5").string()); });
    std::cout << nlohmann::json{{"bench", "ingest_ml100k"},
                                {"grec", {{"seconds", s}, {"interactions", stats["interactions"]}}},
                                {"target_s", 2.0},
                                {"pass", s < 2.0}}
                     .dump()
              << std::endl;
  } else {
    std::cout
        << nlohmann::json{{"bench", "ingest_ml100k"}, {"skipped", "no " + ml + "/u.data"}}.dump()
        << std::endl;
  }

  // 2. 1M-line csv parse rate.
  const int64_t lines = 1000000;
  const std::string csv = (tmp / "events.csv").string();
  write_csv(csv, lines);
  grec::data::IngestOptions o;
  o.format = "csv";
  o.input = csv;
  o.csv.rating = "rating";
  size_t parsed = 0;
  const double grec_s = best_of(3, [&] { parsed = grec::data::read_csv(o).size(); });
  int64_t sink = 0;
  const double ref_s = best_of(3, [&] { sink += reference_parse(csv); });
  const double ref2_s = best_of(3, [&] { sink += reference_parse_interning(csv); });
  nlohmann::json total;
  const double full_s =
      best_of(1, [&] { total = grec::data::ingest_to_file(o, (tmp / "c.h5").string()); });
  const double grec_rate = double(parsed) / grec_s, ref_rate = double(lines) / ref_s;
  std::cout << nlohmann::json{{"bench", "parse_csv_1m"},
                              {"lines", lines},
                              {"grec",
                               {{"seconds", grec_s},
                                {"lines_per_s", grec_rate},
                                {"what", "read_csv: split, from_chars, intern ids"}}},
                              {"reference",
                               {{"seconds", ref_s},
                                {"lines_per_s", ref_rate},
                                {"what", "std::getline + strtol, no id interning"},
                                {"checksum", sink % 1000}}},
                              {"reference_interning",
                               {{"seconds", ref2_s},
                                {"lines_per_s", double(lines) / ref2_s},
                                {"what",
                                 "std::getline + find + strtol + unordered_map<string> ids"}}},
                              {"ratio", grec_rate / ref_rate},
                              {"ratio_interning", ref2_s / grec_s},
                              {"ingest_to_h5_seconds", full_s},
                              {"target_lines_per_s", 1e6},
                              {"pass", grec_rate >= 1e6}}
                   .dump()
            << std::endl;
  fs::remove_all(tmp);
  return 0;
}
