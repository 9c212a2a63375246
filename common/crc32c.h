/*
 * crc32c.h — CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78).
 *
 * The checksum of the WAL records, snapshot column chunks and Raft messages (DESIGN §6, §7).
 * Hardware (SSE4.2 crc32 instruction) when the CPU has it, chosen once at run time; a
 * slicing-by-8 table otherwise. Both give identical results; test_crc32c checks them against
 * each other and against the RFC 3720 test vectors.
 */
#ifndef CTX_CRC32C_H
#define CTX_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 for a fresh checksum) over len bytes of data and returns the new CRC.
 * crc32c(crc32c(0, a, n), b, m) == crc32c(0, a||b, n+m). data may be NULL when len is 0.
 * Thread-safe; never fails. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* The portable table implementation, exposed so tests can compare it with the hardware path. */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len);

/* 1 when crc32c() uses the SSE4.2 instruction on this CPU, 0 otherwise. */
int crc32c_hw_available(void);

#endif
