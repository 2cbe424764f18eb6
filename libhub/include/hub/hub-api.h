/* hub-api.h: how libhub marks what it exports, GLib's way (_GLIB_EXTERN,
 * GLIB_AVAILABLE_IN_ALL). Every function of an installed header carries the
 * macro of the library that defines it, on the line before it: HUB_API for
 * libhub-core, HUB_CLIENT_API for libhub-client. The libraries are built with
 * -fvisibility=hidden, so nothing else leaves them (their static archives
 * keep every symbol, for this tree's programs and tests).
 *
 * On Windows the macro is dllexport while its library is being built
 * (HUB_COMPILATION, HUB_CLIENT_COMPILATION: set by its CMake target only) and
 * dllimport for a program that uses the DLL; a program that links the static
 * libraries defines HUB_STATIC_COMPILATION (the CMake targets do it for the
 * programs of this tree). */
#pragma once

#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(HUB_STATIC_COMPILATION)
#define HUB_API        extern
#define HUB_CLIENT_API extern
#else
#if defined(HUB_COMPILATION)
#define HUB_API __declspec(dllexport) extern
#else
#define HUB_API __declspec(dllimport) extern
#endif
#if defined(HUB_CLIENT_COMPILATION)
#define HUB_CLIENT_API __declspec(dllexport) extern
#else
#define HUB_CLIENT_API __declspec(dllimport) extern
#endif
#endif
#elif defined(__GNUC__) || defined(__clang__)
/* Both when building and when using the library: a declaration's visibility
 * must match its definition's. */
#define HUB_API        __attribute__ ((visibility ("default"))) extern
#define HUB_CLIENT_API __attribute__ ((visibility ("default"))) extern
#else
#define HUB_API        extern
#define HUB_CLIENT_API extern
#endif
