/*
 * authrouter_export.h -- symbol visibility for the authrouter C ABI.
 *
 * AUTHROUTER_API marks the functions that libauthrouter.so exports. Everything else in the
 * library is built with hidden visibility and stays private.
 */
#ifndef AUTHROUTER_AUTHROUTER_EXPORT_H_
#define AUTHROUTER_AUTHROUTER_EXPORT_H_

#if defined(_WIN32)
#if defined(AUTHROUTER_BUILDING_LIBRARY)
#define AUTHROUTER_API __declspec(dllexport)
#else
#define AUTHROUTER_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define AUTHROUTER_API __attribute__((visibility("default")))
#else
#define AUTHROUTER_API
#endif

#endif /* AUTHROUTER_AUTHROUTER_EXPORT_H_ */
