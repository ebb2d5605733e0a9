// The Manager's snapshot pool (manager/snapshot_pool.h): what comes back is reused for the same
// credential, a removed credential's snapshots are not kept, and a reused object is assigned
// exactly the current state.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "manager/snapshot_pool.h"

namespace authrouter::internal {
namespace {

Credential Sample(const std::string& id) {
  Credential c;
  c.id = id;
  c.provider = "claude";
  c.label = "a label long enough to live on the heap, not in the string itself";
  c.attributes["priority"] = "3";
  c.attributes["region"] = "eu-west-1 and then some more text to make it long";
  c.model_states["claude-sonnet-4-5-20250929"].status_message = "quota exhausted for this model today";
  c.last_error = ErrorRecord{.code = "rate_limited", .message = "a message", .http_status = 429};
  return c;
}

TEST_CASE("A returned snapshot is reused for the next change of the same credential",
          "[snapshot-pool]") {
  auto pool = SnapshotPool::Create();
  const Credential current = Sample("a");
  std::unique_ptr<Credential> first = pool->Copy(current);
  const Credential* object = first.get();
  CHECK(*first == current);
  std::shared_ptr<const Credential> published = pool->Publish(std::move(first));
  std::weak_ptr<const Credential> weak = published;
  CHECK(pool->spares() == 0);
  published.reset();  // the last holder lets go: the object comes back
  CHECK(weak.expired());
  CHECK(pool->spares() == 1);

  Credential changed = current;
  changed.model_states["claude-sonnet-4-5-20250929"].status_message = "cleared";
  changed.last_error.reset();
  std::unique_ptr<Credential> second = pool->Copy(changed);
  CHECK(second.get() == object);  // the same storage
  CHECK(*second == changed);      // with exactly the current state
  CHECK(pool->spares() == 0);
  pool->Discard(std::move(second));
  CHECK(pool->spares() == 1);

  // Another credential gets its own object.
  std::unique_ptr<Credential> other = pool->Copy(Sample("b"));
  CHECK(other.get() != object);
  CHECK(other->id == "b");
}

TEST_CASE("A removed credential's snapshot is deleted when it comes back", "[snapshot-pool]") {
  auto pool = SnapshotPool::Create();
  std::shared_ptr<const Credential> held = pool->Publish(pool->Copy(Sample("gone")));
  pool->Forget("gone");
  held.reset();
  CHECK(pool->spares() == 0);
  // A later registration of the same ID starts over.
  std::shared_ptr<const Credential> again = pool->Publish(pool->Copy(Sample("gone")));
  again.reset();
  CHECK(pool->spares() == 1);
}

TEST_CASE("A snapshot outliving its pool is freed normally", "[snapshot-pool]") {
  std::shared_ptr<const Credential> held;
  {
    auto pool = SnapshotPool::Create();
    held = pool->Publish(pool->Copy(Sample("late")));
  }
  CHECK(held->id == "late");
  held.reset();  // the deleter keeps the pool alive until here (ASan/LSan check the rest)
}

TEST_CASE("AssignReusing makes any credential equal to any other", "[snapshot-pool]") {
  Credential a = Sample("a");
  Credential b = Sample("b");
  b.attributes.erase("region");
  b.attributes["weight"] = "2";
  b.model_states["gpt-5"] = ModelState{};
  b.metadata = *Metadata::Parse(R"({"email":"x@example.com"})");
  b.index = "0123456789abcdef";
  b.index_assigned = true;
  AssignReusing(a, b);
  CHECK(a == b);
  Credential empty;
  AssignReusing(a, empty);
  CHECK(a == empty);
  AssignReusing(a, b);
  CHECK(a == b);
}

}  // namespace
}  // namespace authrouter::internal
