// Every config shipped in configs/ loads under the full schema (so a renamed or removed key
// breaks a test, not a user's run), and choices the pipeline must refuse are refused.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/config.h"
#include "core/error.h"
#include "stages/stages.h"

namespace {

TEST(ShippedConfigs, EveryConfigLoads) {
  const grec::ConfigSchema schema = grec::stages::full_schema();
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(GREC_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".yaml") continue;
    ++n;
    EXPECT_NO_THROW(grec::Config::load(schema, e.path().string())) << e.path();
  }
  EXPECT_GE(n, 4);  // demo, ml100k, beauty, microlens
}

TEST(ShippedConfigs, CollisionResolutionCannotBeTurnedOff) {
  // Semantic IDs name items: the stage offers no method that could leave two items one tuple.
  const grec::ConfigSchema schema = grec::stages::full_schema();
  EXPECT_EQ(grec::Config::parse(schema, "rqvae: {collisions: {method: suffix}}\n", "<t>")
                .get_string("rqvae.collisions.method"),
            "suffix");
  EXPECT_THROW(grec::Config::parse(schema, "rqvae: {collisions: {method: none}}\n", "<t>"),
               grec::UserError);
}

}  // namespace
