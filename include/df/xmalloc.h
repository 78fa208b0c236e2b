/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation that aborts on failure: only for sizes the program chooses. Sizes that come
 * from the network or disk go through bounded APIs that return DF_ENOMEM/DF_ETOOBIG.
 */
#ifndef DF_XMALLOC_H
#define DF_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Allocate a formatted string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
