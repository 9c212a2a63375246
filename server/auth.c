/*
 * auth.c — SCRAM-SHA-256 and MD5 password authentication (see auth.h).
 *
 * SCRAM as PostgreSQL speaks it (RFC 5802 with SHA-256, RFC 7677), messages in order:
 *   S: AuthenticationSASL            "SCRAM-SHA-256"
 *   C: SASLInitialResponse           client-first  = gs2-header "n,," | "y,,"  + "n=,r=<cnonce>"
 *   S: AuthenticationSASLContinue    server-first  = "r=<cnonce><snonce>,s=<salt>,i=<iterations>"
 *   C: SASLResponse                  client-final  = "c=<b64 gs2-header>,r=<nonce>,p=<b64 proof>"
 *   S: AuthenticationSASLFinal       server-final  = "v=<b64 ServerSignature>"
 * with AuthMessage = client-first-bare "," server-first "," client-final-without-proof,
 * ClientKey = proof XOR HMAC(StoredKey, AuthMessage), accepted when SHA-256(ClientKey) equals
 * StoredKey; ServerSignature = HMAC(ServerKey, AuthMessage). The user name inside the SCRAM
 * messages is ignored, as PostgreSQL does (the startup packet's user counts). The verifier stores
 * only StoredKey and ServerKey, so the password itself is never kept. OpenSSL provides HMAC,
 * SHA-256, PBKDF2, MD5, base64 and the random nonces.
 */
#include "auth.h"

#include "pgwire.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    SCRAM_KEY_BYTES = 32,
    SCRAM_SALT_BYTES = 16,
    SCRAM_NONCE_BYTES = 18,
    SCRAM_TEXT_MAX = 1024,
};

typedef enum { AUTH_WANT_FIRST, AUTH_WANT_FINAL, AUTH_WANT_MD5, AUTH_FINISHED } auth_state_t;

struct auth_session {
    auth_method_t method;
    auth_state_t state;
    char user[AUTH_NAME_BYTES_MAX];
    bool known; /* false: mock exchange that always fails */
    uint32_t iterations;
    uint8_t salt[SCRAM_SALT_BYTES * 2];
    size_t salt_len;
    uint8_t stored_key[SCRAM_KEY_BYTES];
    uint8_t server_key[SCRAM_KEY_BYTES];
    char md5_hash[36]; /* "md5" + 32 hex */
    uint8_t md5_salt[4];
    char client_first_bare[SCRAM_TEXT_MAX];
    char server_first[SCRAM_TEXT_MAX + 64];
    char nonce[SCRAM_TEXT_MAX / 2];
};

/* ---- Encodings
 * ------------------------------------------------------------------------------------ */

static void auth_b64(const uint8_t *data, size_t len, char *out) {
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
}

/* Decodes base64 text into out (cap bytes); returns the length or -1. */
static int auth_unb64(const char *text, size_t len, uint8_t *out, size_t cap) {
    if (len % 4 != 0 || len / 4 * 3 > cap + 2) {
        return -1;
    }
    uint8_t tmp[SCRAM_TEXT_MAX];
    if (len / 4 * 3 > sizeof(tmp)) {
        return -1;
    }
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)len);
    if (n < 0) {
        return -1;
    }
    if (len > 0 && text[len - 1] == '=') {
        n--;
    }
    if (len > 1 && text[len - 2] == '=') {
        n--;
    }
    if ((size_t)n > cap) {
        return -1;
    }
    memcpy(out, tmp, (size_t)n);
    return n;
}

static void auth_hmac(const uint8_t *key, size_t key_len, const void *data, size_t len,
                      uint8_t out[SCRAM_KEY_BYTES]) {
    unsigned int out_len = SCRAM_KEY_BYTES;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len);
    CTX_ASSERT(out_len == SCRAM_KEY_BYTES);
}

static void auth_sha256(const uint8_t *data, size_t len, uint8_t out[SCRAM_KEY_BYTES]) {
    unsigned int out_len = SCRAM_KEY_BYTES;
    EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL);
    CTX_ASSERT(out_len == SCRAM_KEY_BYTES);
}

static void auth_md5_hex(const void *a, size_t a_len, const void *b, size_t b_len, char out[33]) {
    uint8_t digest[16];
    unsigned int len = 16;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_md5(), NULL);
    EVP_DigestUpdate(md, a, a_len);
    EVP_DigestUpdate(md, b, b_len);
    EVP_DigestFinal_ex(md, digest, &len);
    EVP_MD_CTX_free(md);
    for (int i = 0; i < 16; i++) {
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    }
}

/* ---- Configuration
 * ------------------------------------------------------------------------------- */

int auth_parse_method(const char *text, auth_method_t *method, ctx_err_t *err) {
    if (strcasecmp(text, "trust") == 0) {
        *method = AUTH_TRUST;
    } else if (strcasecmp(text, "scram-sha-256") == 0) {
        *method = AUTH_SCRAM;
    } else if (strcasecmp(text, "md5") == 0) {
        *method = AUTH_MD5;
    } else {
        return ctx_err_set(err, CTX_ECONFIG,
                           "invalid value for parameter \"auth_method\": \"%s\" (trust, "
                           "scram-sha-256 or md5)",
                           text);
    }
    return 0;
}

/* Splits "SCRAM-SHA-256$<iter>:<salt>$<stored>:<server>". */
static int auth_parse_scram(const char *v, uint32_t *iterations, uint8_t *salt, size_t *salt_len,
                            uint8_t *stored, uint8_t *server) {
    static const char prefix[] = "SCRAM-SHA-256$";
    if (strncmp(v, prefix, sizeof(prefix) - 1) != 0) {
        return -1;
    }
    const char *p = v + sizeof(prefix) - 1;
    char *end = NULL;
    unsigned long iter = strtoul(p, &end, 10);
    const char *dollar = strchr(p, '$');
    const char *colon2 = dollar != NULL ? strchr(dollar, ':') : NULL;
    if (end == p || *end != ':' || iter < 1 || iter > 100000000 || dollar == NULL ||
        colon2 == NULL) {
        return -1;
    }
    int n = auth_unb64(end + 1, (size_t)(dollar - end - 1), salt, SCRAM_SALT_BYTES * 2);
    int k1 = auth_unb64(dollar + 1, (size_t)(colon2 - dollar - 1), stored, SCRAM_KEY_BYTES);
    int k2 = auth_unb64(colon2 + 1, strlen(colon2 + 1), server, SCRAM_KEY_BYTES);
    if (n <= 0 || k1 != SCRAM_KEY_BYTES || k2 != SCRAM_KEY_BYTES) {
        return -1;
    }
    *iterations = (uint32_t)iter;
    *salt_len = (size_t)n;
    return 0;
}

static bool auth_is_md5(const char *v) {
    if (strncmp(v, "md5", 3) != 0 || strlen(v) != 35) {
        return false;
    }
    for (int i = 3; i < 35; i++) {
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

int auth_check_verifier(const char *verifier, ctx_err_t *err) {
    uint32_t iter;
    uint8_t salt[SCRAM_SALT_BYTES * 2], stored[SCRAM_KEY_BYTES], server[SCRAM_KEY_BYTES];
    size_t salt_len;
    if (auth_is_md5(verifier) ||
        auth_parse_scram(verifier, &iter, salt, &salt_len, stored, server) == 0) {
        return 0;
    }
    return ctx_err_set(err, CTX_ECONFIG,
                       "invalid password verifier (expected SCRAM-SHA-256$<iterations>:<salt>$"
                       "<StoredKey>:<ServerKey> or md5<32 hex digits>; make one with contextdb "
                       "--scram-secret PASSWORD)");
}

int auth_add_user(auth_config_t *config, const char *name, const char *verifier, ctx_err_t *err) {
    if (name[0] == '\0' || strlen(name) >= AUTH_NAME_BYTES_MAX ||
        strlen(verifier) >= AUTH_VERIFIER_BYTES_MAX) {
        return ctx_err_set(err, CTX_ECONFIG, "invalid user entry \"user.%s\"", name);
    }
    if (auth_check_verifier(verifier, err) < 0) {
        return err->code;
    }
    uint32_t i = 0;
    while (i < config->nusers && strcmp(config->users[i].name, name) != 0) {
        i++;
    }
    if (i == AUTH_USERS_MAX) {
        return ctx_err_set(err, CTX_ECONFIG, "too many users (at most %d)", AUTH_USERS_MAX);
    }
    snprintf(config->users[i].name, sizeof(config->users[i].name), "%s", name);
    snprintf(config->users[i].verifier, sizeof(config->users[i].verifier), "%s", verifier);
    config->nusers = i == config->nusers ? i + 1 : config->nusers;
    return 0;
}

static void auth_scram_keys(const char *password, const uint8_t *salt, size_t salt_len,
                            uint32_t iterations, uint8_t *stored, uint8_t *server) {
    uint8_t salted[SCRAM_KEY_BYTES], client_key[SCRAM_KEY_BYTES];
    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations,
                      EVP_sha256(), SCRAM_KEY_BYTES, salted);
    auth_hmac(salted, sizeof(salted), "Client Key", 10, client_key);
    auth_sha256(client_key, sizeof(client_key), stored);
    auth_hmac(salted, sizeof(salted), "Server Key", 10, server);
}

int auth_scram_verifier(const char *password, uint32_t iterations, char *out, ctx_err_t *err) {
    uint8_t salt[SCRAM_SALT_BYTES], stored[SCRAM_KEY_BYTES], server[SCRAM_KEY_BYTES];
    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        return ctx_err_set(err, CTX_EINTERNAL, "could not generate a random salt");
    }
    auth_scram_keys(password, salt, sizeof(salt), iterations, stored, server);
    char salt64[64], stored64[64], server64[64];
    auth_b64(salt, sizeof(salt), salt64);
    auth_b64(stored, sizeof(stored), stored64);
    auth_b64(server, sizeof(server), server64);
    snprintf(out, AUTH_VERIFIER_BYTES_MAX, "SCRAM-SHA-256$%u:%s$%s:%s", iterations, salt64,
             stored64, server64);
    return 0;
}

/* ---- The exchange
 * -------------------------------------------------------------------------------- */

typedef enum { AUTH_SECRET_NONE, AUTH_SECRET_MD5, AUTH_SECRET_SCRAM } auth_secret_t;

/* Loads user's stored secret into s and says which kind it is. */
static auth_secret_t auth_load_secret(auth_session_t *s, const auth_config_t *config,
                                      const char *user) {
    const char *verifier = NULL;
    for (uint32_t i = 0; i < config->nusers; i++) {
        if (strcmp(config->users[i].name, user) == 0) {
            verifier = config->users[i].verifier;
        }
    }
    if (verifier != NULL && auth_is_md5(verifier)) {
        snprintf(s->md5_hash, sizeof(s->md5_hash), "%s", verifier);
        return AUTH_SECRET_MD5;
    }
    if (verifier != NULL && auth_parse_scram(verifier, &s->iterations, s->salt, &s->salt_len,
                                             s->stored_key, s->server_key) == 0) {
        return AUTH_SECRET_SCRAM;
    }
    return AUTH_SECRET_NONE;
}

/* The stored secret decides the exchange, as in PostgreSQL: md5 runs MD5 only for a user whose
 * secret is an md5 hash (a SCRAM verifier cannot check an MD5 answer, so such a user gets SCRAM);
 * scram-sha-256 always runs SCRAM, and an md5 hash cannot pass it (the mock exchange ends in
 * 28P01). `known` is true only when the exchange's secret is loaded, so no check ever runs
 * against an unset one. */
auth_session_t *auth_begin(const auth_config_t *config, const char *user, buf_t *out) {
    CTX_ASSERT(config != NULL && config->method != AUTH_TRUST && user != NULL);
    auth_session_t *s = ctx_calloc(1, sizeof(*s));
    snprintf(s->user, sizeof(s->user), "%s", user);
    auth_secret_t secret = auth_load_secret(s, config, user);
    s->method = config->method == AUTH_MD5 && secret != AUTH_SECRET_SCRAM ? AUTH_MD5 : AUTH_SCRAM;
    s->known = secret == (s->method == AUTH_MD5 ? AUTH_SECRET_MD5 : AUTH_SECRET_SCRAM);
    if (s->method == AUTH_MD5) {
        RAND_bytes(s->md5_salt, sizeof(s->md5_salt));
        pgw_encode_auth_md5(out, s->md5_salt);
        s->state = AUTH_WANT_MD5;
        return s;
    }
    if (!s->known) { /* mock values: the exchange looks alike */
        s->iterations = AUTH_SCRAM_ITERATIONS;
        s->salt_len = SCRAM_SALT_BYTES;
        RAND_bytes(s->salt, SCRAM_SALT_BYTES);
    }
    static const char *const mechanisms[] = {"SCRAM-SHA-256"};
    int rc = pgw_encode_auth_sasl(out, mechanisms, 1);
    CTX_ASSERT(rc == 0);
    s->state = AUTH_WANT_FIRST;
    return s;
}

void auth_free(auth_session_t *s) {
    free(s);
}

static int auth_failed(auth_session_t *s, ctx_err_t *err) {
    s->state = AUTH_FINISHED;
    return ctx_err_set(err, CTX_EAUTH, "password authentication failed for user \"%s\"", s->user);
}

static int auth_malformed(auth_session_t *s, const char *what, ctx_err_t *err) {
    s->state = AUTH_FINISHED;
    return ctx_err_set(err, CTX_EPROTOCOL, "malformed SCRAM message (%s)", what);
}

/* SASLInitialResponse → server-first. */
static int auth_scram_first(auth_session_t *s, const uint8_t *body, size_t len, buf_t *out,
                            ctx_err_t *err) {
    pgw_bytes_t bytes = {body, len};
    const char *mechanism = NULL;
    pgw_value_t data;
    if (pgw_decode_sasl_initial(&bytes, &mechanism, &data, err) < 0) {
        s->state = AUTH_FINISHED;
        return err->code;
    }
    if (strcmp(mechanism, "SCRAM-SHA-256") != 0) {
        s->state = AUTH_FINISHED;
        return ctx_err_set(err, CTX_EPROTOCOL,
                           "client selected an invalid SASL authentication mechanism");
    }
    if (data.len < 3 || (size_t)data.len >= SCRAM_TEXT_MAX) {
        return auth_malformed(s, "client-first-message", err);
    }
    char first[SCRAM_TEXT_MAX];
    memcpy(first, data.data, (size_t)data.len);
    first[data.len] = '\0';
    if ((first[0] != 'n' && first[0] != 'y') || first[1] != ',') {
        s->state = AUTH_FINISHED;
        return ctx_err_set(err, CTX_EFEATURE, "channel binding is not supported");
    }
    const char *bare = strchr(first + 2, ',');
    const char *r = bare != NULL ? strstr(bare + 1, "r=") : NULL;
    if (bare == NULL || r == NULL) {
        return auth_malformed(s, "client-first-message", err);
    }
    snprintf(s->client_first_bare, sizeof(s->client_first_bare), "%s", bare + 1);
    size_t cnonce_len = strcspn(r + 2, ",");
    uint8_t raw[SCRAM_NONCE_BYTES];
    RAND_bytes(raw, sizeof(raw));
    char snonce[64], salt64[64];
    auth_b64(raw, sizeof(raw), snonce);
    auth_b64(s->salt, s->salt_len, salt64);
    if (cnonce_len > 256) {
        return auth_malformed(s, "nonce", err);
    }
    snprintf(s->nonce, sizeof(s->nonce), "%.*s%s", (int)cnonce_len, r + 2, snonce);
    snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%u", s->nonce, salt64,
             s->iterations);
    s->state = AUTH_WANT_FINAL;
    return pgw_encode_auth_sasl_continue(out, (const uint8_t *)s->server_first,
                                         strlen(s->server_first));
}

/* SASLResponse (client-final) → server-final, or failure. */
static int auth_scram_final(auth_session_t *s, const uint8_t *body, size_t len, buf_t *out,
                            bool *done, ctx_err_t *err) {
    if (len >= SCRAM_TEXT_MAX) {
        return auth_malformed(s, "client-final-message", err);
    }
    char final[SCRAM_TEXT_MAX];
    memcpy(final, body, len);
    final[len] = '\0';
    const char *proof = strstr(final, ",p=");
    char expect_nonce[SCRAM_TEXT_MAX + 8];
    snprintf(expect_nonce, sizeof(expect_nonce), ",r=%s,", s->nonce);
    if (strncmp(final, "c=", 2) != 0 || proof == NULL || strstr(final, expect_nonce) == NULL) {
        return auth_malformed(s, "client-final-message", err);
    }
    uint8_t client_proof[SCRAM_KEY_BYTES];
    if (auth_unb64(proof + 3, strlen(proof + 3), client_proof, sizeof(client_proof)) !=
        SCRAM_KEY_BYTES) {
        return auth_malformed(s, "proof", err);
    }
    if (!s->known) {
        return auth_failed(s, err); /* a mock exchange: there is no secret to check against */
    }
    char auth_message[4 * SCRAM_TEXT_MAX];
    int am_len = snprintf(auth_message, sizeof(auth_message), "%s,%s,%.*s", s->client_first_bare,
                          s->server_first, (int)(proof - final), final);
    uint8_t signature[SCRAM_KEY_BYTES], client_key[SCRAM_KEY_BYTES], check[SCRAM_KEY_BYTES];
    auth_hmac(s->stored_key, SCRAM_KEY_BYTES, auth_message, (size_t)am_len, signature);
    for (int i = 0; i < SCRAM_KEY_BYTES; i++) {
        client_key[i] = client_proof[i] ^ signature[i];
    }
    auth_sha256(client_key, sizeof(client_key), check);
    if (CRYPTO_memcmp(check, s->stored_key, SCRAM_KEY_BYTES) != 0) {
        return auth_failed(s, err);
    }
    uint8_t server_sig[SCRAM_KEY_BYTES];
    auth_hmac(s->server_key, SCRAM_KEY_BYTES, auth_message, (size_t)am_len, server_sig);
    char text[80] = "v=";
    auth_b64(server_sig, sizeof(server_sig), text + 2);
    s->state = AUTH_FINISHED;
    *done = true;
    return pgw_encode_auth_sasl_final(out, (const uint8_t *)text, strlen(text));
}

static int auth_md5(auth_session_t *s, const uint8_t *body, size_t len, bool *done,
                    ctx_err_t *err) {
    pgw_bytes_t bytes = {body, len};
    const char *password = NULL;
    s->state = AUTH_FINISHED;
    if (pgw_decode_password(&bytes, &password, err) < 0) {
        return err->code;
    }
    if (!s->known) {
        return auth_failed(s, err);
    }
    CTX_ASSERT(auth_is_md5(s->md5_hash));
    char expect[36] = "md5";
    auth_md5_hex(s->md5_hash + 3, 32, s->md5_salt, sizeof(s->md5_salt), expect + 3);
    if (strlen(password) != 35 || CRYPTO_memcmp(password, expect, 35) != 0) {
        return auth_failed(s, err);
    }
    *done = true;
    return 0;
}

int auth_step(auth_session_t *s, const uint8_t *body, size_t len, buf_t *out, bool *done,
              ctx_err_t *err) {
    CTX_ASSERT(s != NULL && out != NULL && done != NULL);
    *done = false;
    switch (s->state) {
    case AUTH_WANT_FIRST:
        return auth_scram_first(s, body, len, out, err);
    case AUTH_WANT_FINAL:
        return auth_scram_final(s, body, len, out, done, err);
    case AUTH_WANT_MD5:
        return auth_md5(s, body, len, done, err);
    case AUTH_FINISHED:
        break;
    }
    return ctx_err_set(err, CTX_EPROTOCOL, "unexpected authentication message");
}
