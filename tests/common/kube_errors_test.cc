#include "common/kube/errors.h"

#include <gtest/gtest.h>

namespace kfaas::kube {
namespace {

TEST(KubeErrors, NotFoundCarriesStatus) {
  auto s = NotFoundError("functions.kfaas.dev", "hello");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::IsNotFound(s));
  EXPECT_EQ(HttpCode(s), 404);
  Json j = ToStatusJson(s);
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["message"], "functions.kfaas.dev \"hello\" not found");
  EXPECT_EQ(j["details"]["kind"], "functions");
  EXPECT_EQ(j["details"]["group"], "kfaas.dev");
}

TEST(KubeErrors, ConflictMessageMatchesApiServer) {
  auto s = ConflictError("functions.kfaas.dev", "x");
  EXPECT_TRUE(IsConflict(s));
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(std::string(s.message()),
            "Operation cannot be fulfilled on functions.kfaas.dev \"x\": the object has been "
            "modified; please apply your changes to the latest version and try again");
}

TEST(KubeErrors, InvalidListsCauses) {
  auto s = InvalidError("Function", "kfaas.dev", "hello",
                        {{"FieldValueRequired", "Required value", "spec.image"},
                         {"FieldValueInvalid", "must be <= 900", "spec.timeoutSeconds"}});
  EXPECT_TRUE(IsInvalid(s));
  EXPECT_EQ(HttpCode(s), 422);
  auto causes = Causes(s);
  ASSERT_EQ(causes.size(), 2u);
  EXPECT_EQ(causes[1].field, "spec.timeoutSeconds");
  EXPECT_NE(std::string(s.message()).find("spec.image: Required value"), std::string::npos);
}

TEST(KubeErrors, RoundTripThroughJson) {
  Json wire = {{"kind", "Status"},
               {"code", 410},
               {"reason", "Expired"},
               {"message", "too old resource version: 5 (10)"}};
  auto s = FromStatusJson(wire, 200);
  EXPECT_TRUE(IsGone(s));
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_FALSE(IsRetryable(s));
  EXPECT_TRUE(IsRetryable(InternalApiError("boom")));
  EXPECT_TRUE(IsRetryable(absl::UnavailableError("connection refused")));
  EXPECT_EQ(HttpCode(absl::UnavailableError("x")), 0);
  EXPECT_EQ(ToStatusJson(absl::InternalError("x"))["code"], 500);
}

}  // namespace
}  // namespace kfaas::kube
