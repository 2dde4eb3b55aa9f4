/* See guard.h. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "guard.h"

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Whole pages needed to hold len bytes, not counting the guard page. */
static size_t data_pages(size_t len)
{
	return (len + page_size() - 1) / page_size();
}

void *guard_copy(const void *src, size_t len)
{
	size_t ps = page_size();
	size_t data = data_pages(len) * ps;
	uint8_t *base;

	base = mmap(NULL, data + ps, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(base != MAP_FAILED, "guard_copy: mmap of %zu bytes failed", data + ps);
	cr_assert(mprotect(base + data, ps, PROT_NONE) == 0, "guard_copy: mprotect failed");
	if (len)
		memcpy(base + data - len, src, len);
	return base + data - len;
}

void guard_free(void *p, size_t len)
{
	uint8_t *end = (uint8_t *)p + len;	/* the guard page */
	size_t data = data_pages(len) * page_size();

	munmap(end - data, data + page_size());
}
