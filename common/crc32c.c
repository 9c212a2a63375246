/*
 * crc32c.c — CRC-32C, hardware-accelerated with a portable fallback.
 *
 * The software path is slicing-by-8 over tables computed once, by a constructor at load time
 * (before any thread exists, so no locking is needed). The hardware path feeds 8 bytes per
 * _mm_crc32_u64 and the head/tail bytewise; it is compiled with
 * __attribute__((target("sse4.2"))) so the rest of the project needs no -msse4.2, and is chosen
 * at run time through __builtin_cpu_supports("sse4.2"). Both paths use the standard
 * pre/post inversion, so the CRC of "123456789" is 0xE3069283.
 */
#include "crc32c.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CRC32C_X86 1
#else
#define CRC32C_X86 0
#endif

enum { CRC32C_SLICES = 8 };
#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t crc32c_table[CRC32C_SLICES][256];
static int crc32c_use_hw;

/* Builds the slicing tables and picks the implementation, once, at load time. */
__attribute__((constructor)) static void crc32c_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) {
            crc = (crc & 1) ? (crc >> 1) ^ CRC32C_POLY_REFLECTED : crc >> 1;
        }
        crc32c_table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = crc32c_table[0][n];
        for (int s = 1; s < CRC32C_SLICES; s++) {
            crc = crc32c_table[0][crc & 0xff] ^ (crc >> 8);
            crc32c_table[s][n] = crc;
        }
    }
#if CRC32C_X86
    __builtin_cpu_init();
    crc32c_use_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

/* See crc32c.h. */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        /* The tables assume little-endian byte order of the loaded word. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        uint32_t lo = (uint32_t)word ^ crc;
        uint32_t hi = (uint32_t)(word >> 32);
        crc = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
              crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
              crc32c_table[3][hi & 0xff] ^ crc32c_table[2][(hi >> 8) & 0xff] ^
              crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        crc = crc32c_table[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
        p++;
        len--;
    }
    return ~crc;
}

#if CRC32C_X86
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *data,
                                                            size_t len) {
    const uint8_t *p = data;
    uint64_t c = ~crc;
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p);
        p++;
        len--;
    }
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = _mm_crc32_u8((uint32_t)c, *p);
        p++;
        len--;
    }
    return ~(uint32_t)c;
}
#endif

/* See crc32c.h: the hardware path when available. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len) {
#if CRC32C_X86
    if (crc32c_use_hw) {
        return crc32c_hw(crc, data, len);
    }
#endif
    return crc32c_sw(crc, data, len);
}

/* See crc32c.h. */
int crc32c_hw_available(void) {
    return crc32c_use_hw;
}
