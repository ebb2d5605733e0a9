// docs/config.md cannot drift from the parsers: every config key and auth-file key they read is
// documented, nothing else is, and every documented example parses.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "authrouter/config.h"
#include "authrouter/file_store.h"

namespace authrouter {
namespace {

struct Row {
  std::string key;
  std::string example;
};

// Rows returns the rows of the table between <!-- name --> and <!-- /name -->: the first column's
// key and the `example` column's code.
std::vector<Row> Rows(const std::string& name, size_t example_column) {
  std::ifstream in(std::string(AUTHROUTER_SOURCE_DIR) + "/docs/config.md");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const size_t begin = text.find("<!-- " + name + " -->");
  const size_t end = text.find("<!-- /" + name + " -->");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  std::istringstream lines(text.substr(begin, end - begin));
  std::vector<Row> rows;
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("| `")) continue;
    std::vector<std::string> cells;
    size_t pos = 1;
    while (pos < line.size()) {
      const size_t bar = line.find(" |", pos);
      if (bar == std::string::npos) break;
      std::string cell = line.substr(pos, bar - pos);
      while (!cell.empty() && cell.front() == ' ') cell.erase(0, 1);
      cells.push_back(cell);
      pos = bar + 2;
    }
    REQUIRE(cells.size() > example_column);
    auto code = [](const std::string& cell) {
      const size_t a = cell.find('`');
      const size_t b = cell.find('`', a + 1);
      return cell.substr(a + 1, b - a - 1);
    };
    rows.push_back(Row{code(cells[0]), code(cells[example_column])});
  }
  return rows;
}

TEST_CASE("docs/config.md lists exactly the config keys, and every example parses", "[docs]") {
  const std::vector<Row> rows = Rows("config-keys", 3);
  std::set<std::string> documented, known;
  for (const Row& r : rows) {
    INFO(r.key << ": " << r.example);
    CHECK(documented.insert(r.key).second);
    absl::StatusOr<Config> c = ParseConfig(r.example);
    REQUIRE(c.ok());
    CHECK(c->warnings.empty());
    // The example sets the key it documents (its last segment other than "<provider>").
    std::string last = r.key;
    if (const size_t p = last.find(".<provider>"); p != std::string::npos) {
      last = last.substr(0, p) + last.substr(p + 11);
    }
    last = last.substr(last.rfind('.') == std::string::npos ? 0 : last.rfind('.') + 1);
    CHECK(r.example.find("\"" + last + "\"") != std::string::npos);
  }
  for (std::string_view k : KnownConfigKeys()) known.emplace(k);
  CHECK(documented == known);
  CHECK(rows.size() >= 18);
}

TEST_CASE("docs/config.md lists exactly the auth-file keys, and every example loads", "[docs]") {
  const std::vector<Row> rows = Rows("auth-file-keys", 2);
  std::set<std::string> documented, known;
  for (const Row& r : rows) {
    INFO(r.key << ": " << r.example);
    CHECK(documented.insert(r.key).second);
    CHECK(r.example.find("\"" + r.key + "\"") != std::string::npos);
    absl::StatusOr<std::vector<Credential>> c =
        SynthesizeCredentials("/auth", "x.json", r.example, absl::UnixEpoch());
    CHECK(c.ok());
  }
  for (std::string_view k : KnownAuthFileKeys()) known.emplace(k);
  CHECK(documented == known);
}

}  // namespace
}  // namespace authrouter
