// Merging a write-back into an auth file that changed outside the store since the store last
// read it (an external login tool rewrote it): the library's change is re-applied to the newer
// file instead of replacing it.
#ifndef AUTHROUTER_STORE_AUTH_FILE_MERGE_H_
#define AUTHROUTER_STORE_AUTH_FILE_MERGE_H_

#include <string>
#include <string_view>
#include <vector>

namespace authrouter::internal {

// AuthFileMerge is what MergeAuthFile made of the three versions.
struct AuthFileMerge {
  std::string content;                // the file to write
  std::vector<std::string> applied;   // top-level keys the library's change set (or removed)
  std::vector<std::string> overridden;  // of those, keys the file had changed too
  std::vector<std::string> dropped;   // token keys the library changed, dropped for the file's new login
};

// IsTokenLifecycleKey reports whether a top-level auth-file key belongs to the login's tokens
// (access/refresh/id token, token type, the `token` object, expiry and last-refresh spellings).
bool IsTokenLifecycleKey(std::string_view key);

// MergeAuthFile merges `mine` (the library's new version of `base`) into `theirs` (the file as
// it is now, which changed since `base` was read), member by member at the top level:
//  * the token lifecycle keys move as one group: when `theirs` changed any of them (a new
//    login), all of them stay as `theirs` has them and the library's token change is dropped;
//    otherwise the library's token change applies;
//  * every other key the library changed (set, changed or removed) takes the library's value;
//  * every key the library did not change keeps the newer file's value.
// Members keep the order of `theirs`; keys new in `mine` follow in their order. REQUIRES: all
// three are valid JSON objects.
AuthFileMerge MergeAuthFile(std::string_view base, std::string_view theirs, std::string_view mine);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_STORE_AUTH_FILE_MERGE_H_
