// dataset.h5: write/read round trip equality, invariant checks, atomic writes.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/h5.h"
#include "data_pipeline/dataset.h"
#include "data_pipeline/ingest.h"
#include "tests/data_pipeline/data_test_util.h"

namespace grec::data {
namespace {

using test::TempDir;

Dataset small_dataset() {
  Dataset d;
  d.item_raw_ids = {"i0", "i1", "i2"};
  d.item_text["title"] = {"Caf\xc3\xa9", "", "\xe8\xa5\xbf\xe7\x8f\xad\xe7\x89\x99"};
  d.item_ints["topic"] = {2, 0, 1};
  d.user_raw_ids = {"u0", "u1"};
  d.inter_user = {0, 0, 0, 1};
  d.inter_item = {2, 0, 1, 1};
  d.inter_time = {5, 7, 7, 1};
  d.inter_rating = {1.5f, 2, 3, 4};
  d.inter_text["review"] = {"a", "", "c", "d"};
  d.seq_offsets = {0, 3, 4};
  d.seq_items = d.inter_item;
  d.train_end = {1, 1};
  d.valid_end = {2, 1};
  d.attrs["source"] = "test";
  d.attrs["filters"] = {{"min_user", 0}};
  return d;
}

TEST(Store, RoundTripIsExact) {
  TempDir dir;
  const Dataset d = small_dataset();
  const std::string path = dir.sub("d.h5");
  write_dataset(d, path);
  const Dataset r = read_dataset(path);
  EXPECT_EQ(r.item_raw_ids, d.item_raw_ids);
  EXPECT_EQ(r.item_text, d.item_text);
  EXPECT_EQ(r.item_ints, d.item_ints);
  EXPECT_EQ(r.user_raw_ids, d.user_raw_ids);
  EXPECT_EQ(r.inter_user, d.inter_user);
  EXPECT_EQ(r.inter_item, d.inter_item);
  EXPECT_EQ(r.inter_time, d.inter_time);
  EXPECT_EQ(r.inter_rating, d.inter_rating);
  EXPECT_EQ(r.inter_text, d.inter_text);
  EXPECT_EQ(r.seq_offsets, d.seq_offsets);
  EXPECT_EQ(r.seq_items, d.seq_items);
  EXPECT_EQ(r.train_end, d.train_end);
  EXPECT_EQ(r.valid_end, d.valid_end);
  EXPECT_EQ(r.attrs, d.attrs);
  // Plain HDF5 attributes for readers without grec.
  h5::File f = h5::File::open(path);
  EXPECT_EQ(f.attr_i64("/", "format_version"), kDatasetFormatVersion);
  EXPECT_EQ(f.attr_i64("/", "num_interactions"), 4);
  EXPECT_EQ(f.attr_string("/", "source"), "test");
  // No temporary file is left next to the output.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(Store, RoundTripOfAnIngestedDataset) {
  TempDir dir;
  IngestOptions o;
  o.synth.users = 50;
  o.synth.items = 40;
  const Dataset d = ingest(o);
  write_dataset(d, dir.sub("s.h5"));
  const Dataset r = read_dataset(dir.sub("s.h5"));
  EXPECT_EQ(r.seq_items, d.seq_items);
  EXPECT_EQ(r.item_text, d.item_text);
  EXPECT_EQ(r.attrs, d.attrs);
}

TEST(Store, ValidateCatchesBrokenInvariants) {
  Dataset d = small_dataset();
  d.seq_items[1] = 7;
  EXPECT_THROW(validate(d), Error);
  d = small_dataset();
  d.valid_end[0] = 9;
  EXPECT_THROW(validate(d), Error);
  d = small_dataset();
  d.inter_time = {5, 4, 7, 1};
  EXPECT_THROW(validate(d), Error);
  d = small_dataset();
  d.item_text["title"].pop_back();
  EXPECT_THROW(validate(d), Error);
}

TEST(Store, ReadingANonDatasetIsAUserError) {
  TempDir dir;
  test::write_text(dir.sub("x.h5"), "not hdf5");
  EXPECT_THROW(read_dataset(dir.sub("x.h5")), UserError);
  EXPECT_THROW(read_dataset(dir.sub("missing.h5")), UserError);
}

}  // namespace
}  // namespace grec::data
