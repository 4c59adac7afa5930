/*  A decoder for `zre-ref vectors check` in plain C99, no JSON library: ZRE, ZRE/LOG, ZPIPES, ZGOSSIP,
    the ZRE beacon, and ZMTP greetings and frames, written from spec/ alone
    (vectors/README.md#self-check).

        cc -std=c99 -Wall -o zre_decoder vectors/examples/zre_decoder.c
        zre-ref vectors check --protocol zre --decoder "./zre_decoder zre"

    One case per stdin line (frames as hex separated by spaces, "-" = an empty frame); one answer
    per line: "ok {fields as JSON}" or "error CODE FIELD FRAME OFFSET" (FRAME "-" for the byte-stream
    protocols: beacon, zmtp-greeting, zmtp-frame).
*/
#define _POSIX_C_SOURCE 200809L  /* getline */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- output: one growing line ---------------------------------------------------------- */
static char *out;
static size_t out_len, out_cap;

static void put(const char *s, size_t n) {
    if (out_len + n + 1 > out_cap) {
        out_cap = (out_len + n + 1) * 2;
        out = realloc(out, out_cap);
        if (!out) exit(3);
    }
    memcpy(out + out_len, s, n);
    out_len += n;
    out[out_len] = 0;
}
static void puts_(const char *s) { put(s, strlen(s)); }
static void putf(const char *fmt, unsigned long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, fmt, v);
    puts_(buf);
}
static void put_hex(const uint8_t *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    puts_("\"");
    for (size_t i = 0; i < n; i++) { char two[2] = {digits[p[i] >> 4], digits[p[i] & 15]}; put(two, 2); }
    puts_("\"");
}
static void put_text(const uint8_t *p, size_t n) {  /* valid UTF-8 in, a JSON string out */
    puts_("\"");
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"' || p[i] == '\\') { char esc[2] = {'\\', (char) p[i]}; put(esc, 2); }
        else if (p[i] < 0x20) putf("\\u%04llx", p[i]);
        else put((const char *) p + i, 1);
    }
    puts_("\"");
}

static void put_latin1(const uint8_t *p, size_t n) {  /* any octets as text, one character each */
    puts_("\"");
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"' || p[i] == '\\') { char esc[2] = {'\\', (char) p[i]}; put(esc, 2); }
        else if (p[i] < 0x20 || p[i] >= 0x80) putf("\\u%04llx", p[i]);
        else put((const char *) p + i, 1);
    }
    puts_("\"");
}

/* ---- errors: the code, field and offset of spec/README.md#errors ------------------------- */
static jmp_buf fail_jump;
static const char *fail_code;
static char fail_field[80];
static size_t fail_offset;

static void fail(const char *code, const char *field, size_t offset) {
    fail_code = code;
    snprintf(fail_field, sizeof fail_field, "%s", field);
    fail_offset = offset;
    longjmp(fail_jump, 1);
}

/* strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF */
static int utf8_ok(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n) return 0;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

/* ---- the zproto codec core (spec/README.md#codec-core) ----------------------------------- */
enum { END, N1, N2, N4, N8, STRING, LONGSTR, STRINGS, HASH, CHUNK, FRAMES };
typedef struct { const char *name; int type; } field_t;
typedef struct { int id; const char *name; field_t fields[7]; } message_t;
typedef struct { uint8_t signature; int version; const message_t *messages; } protocol_t;

static const message_t ZRE[] = {
    {1, "HELLO", {{"sequence", N2}, {"endpoint", STRING}, {"groups", STRINGS}, {"status", N1},
                  {"name", STRING}, {"headers", HASH}}},
    {2, "WHISPER", {{"sequence", N2}, {"content", FRAMES}}},
    {3, "SHOUT", {{"sequence", N2}, {"group", STRING}, {"content", FRAMES}}},
    {4, "JOIN", {{"sequence", N2}, {"group", STRING}, {"status", N1}}},
    {5, "LEAVE", {{"sequence", N2}, {"group", STRING}, {"status", N1}}},
    {6, "PING", {{"sequence", N2}}},
    {7, "PING-OK", {{"sequence", N2}}},
    {8, "ELECT", {{"sequence", N2}, {"group", STRING}, {"challenger_id", STRING}}},
    {9, "LEADER", {{"sequence", N2}, {"group", STRING}, {"leader_id", STRING}}},
    {10, "GOODBYE", {{"sequence", N2}}},
    {0, NULL, {{NULL, END}}}};
static const message_t ZRELOG[] = {
    {1, "LOG", {{"level", N1}, {"event", N1}, {"node", N2}, {"peer", N2}, {"time", N8}, {"data", STRING}}},
    {0, NULL, {{NULL, END}}}};
#define REASON {{"reason", STRING}}
static const message_t ZPIPES[] = {
    {1, "INPUT", {{"pipename", STRING}}}, {2, "INPUT-OK", {{NULL, END}}}, {3, "INPUT-FAILED", REASON},
    {4, "OUTPUT", {{"pipename", STRING}}}, {5, "OUTPUT-OK", {{NULL, END}}}, {6, "OUTPUT-FAILED", REASON},
    {7, "READ", {{"size", N4}, {"timeout", N4}}}, {8, "READ-OK", {{"chunk", CHUNK}}},
    {9, "READ-END", {{NULL, END}}}, {10, "READ-TIMEOUT", {{NULL, END}}}, {11, "READ-FAILED", REASON},
    {12, "WRITE", {{"chunk", CHUNK}, {"timeout", N4}}}, {13, "WRITE-OK", {{NULL, END}}},
    {14, "WRITE-TIMEOUT", {{NULL, END}}}, {15, "WRITE-FAILED", REASON}, {16, "CLOSE", {{NULL, END}}},
    {17, "CLOSE-OK", {{NULL, END}}}, {18, "CLOSE-FAILED", REASON}, {19, "PING", {{NULL, END}}},
    {20, "PING-OK", {{NULL, END}}}, {21, "INVALID", {{NULL, END}}},
    {0, NULL, {{NULL, END}}}};

static const message_t ZGOSSIP[] = {
    {1, "HELLO", {{NULL, END}}}, {2, "PUBLISH", {{"key", STRING}, {"value", LONGSTR}, {"ttl", N4}}},
    {3, "PING", {{NULL, END}}}, {4, "PONG", {{NULL, END}}}, {5, "INVALID", {{NULL, END}}},
    {0, NULL, {{NULL, END}}}};

typedef struct { const uint8_t *p; size_t n, pos; } reader_t;

static unsigned long long pull_uint(reader_t *r, size_t size, const char *field) {
    if (r->n - r->pos < size) fail("truncated", field, r->pos);
    unsigned long long v = 0;
    for (size_t i = 0; i < size; i++) v = (v << 8) | r->p[r->pos + i];
    r->pos += size;
    return v;
}
/* a length prefix of `size` octets, then that many octets; returns where they start */
static size_t pull_sized(reader_t *r, size_t size, const char *field, size_t *len) {
    size_t start = r->pos;
    unsigned long long n = pull_uint(r, size, field);
    if (n > r->n - r->pos) fail("length-overflow", field, start);
    *len = (size_t) n;
    r->pos += *len;
    return r->pos - *len;
}
static void pull_text(reader_t *r, size_t size, const char *field) {
    size_t start = r->pos, len, at = pull_sized(r, size, field, &len);
    if (!utf8_ok(r->p + at, len)) fail("invalid-utf8", field, start);
    put_text(r->p + at, len);
}
static unsigned long long pull_count(reader_t *r, const char *field, size_t min_item) {
    size_t start = r->pos;
    unsigned long long n = pull_uint(r, 4, field);
    if (n * min_item > r->n - r->pos) fail("length-overflow", field, start);
    return n;
}

static void decode_zproto(const protocol_t *proto, uint8_t **frames, size_t *sizes, size_t count) {
    if (count == 0) fail("frame-count", "frames", 0);
    reader_t r = {frames[0], sizes[0], 0};
    if (r.n < 2) fail("truncated", "signature", 0);
    if (r.p[0] != 0xAA || r.p[1] != proto->signature) fail("bad-signature", "signature", 0);
    r.pos = 2;
    unsigned id = (unsigned) pull_uint(&r, 1, "id");
    const message_t *m = proto->messages;
    while (m->name && m->id != (int) id) m++;
    if (!m->name) fail("unknown-id", "id", 2);
    puts_("{\"type\": ");
    put_text((const uint8_t *) m->name, strlen(m->name));
    if (proto->version) {
        if (pull_uint(&r, 1, "version") != (unsigned long long) proto->version) fail("bad-version", "version", 3);
        putf(", \"version\": %llu", (unsigned long long) proto->version);
    }
    int has_frames = 0;
    char item[80];
    for (const field_t *f = m->fields; f->name; f++) {
        puts_(", ");
        put_text((const uint8_t *) f->name, strlen(f->name));
        puts_(": ");
        size_t len, at;
        switch (f->type) {
        case N1: putf("%llu", pull_uint(&r, 1, f->name)); break;
        case N2: putf("%llu", pull_uint(&r, 2, f->name)); break;
        case N4: putf("%llu", pull_uint(&r, 4, f->name)); break;
        case N8: putf("\"%llu\"", pull_uint(&r, 8, f->name)); break;  /* number-8: a string */
        case STRING: pull_text(&r, 1, f->name); break;
        case LONGSTR: pull_text(&r, 4, f->name); break;
        case CHUNK: at = pull_sized(&r, 4, f->name, &len); put_hex(r.p + at, len); break;
        case STRINGS: {
            unsigned long long n = pull_count(&r, f->name, 4);
            puts_("[");
            for (unsigned long long i = 0; i < n; i++) {
                snprintf(item, sizeof item, "%s[%llu]", f->name, i);
                if (i) puts_(", ");
                pull_text(&r, 4, item);
            }
            puts_("]");
            break;
        }
        case HASH: {
            unsigned long long n = pull_count(&r, f->name, 5);
            puts_("[");
            for (unsigned long long i = 0; i < n; i++) {
                puts_(i ? ", [" : "[");
                snprintf(item, sizeof item, "%s[%llu].key", f->name, i);
                pull_text(&r, 1, item);
                puts_(", ");
                snprintf(item, sizeof item, "%s[%llu].value", f->name, i);
                pull_text(&r, 4, item);
                puts_("]");
            }
            puts_("]");
            break;
        }
        case FRAMES:
            has_frames = 1;
            puts_("[");
            for (size_t i = 1; i < count; i++) { if (i > 1) puts_(", "); put_hex(frames[i], sizes[i]); }
            puts_("]");
            break;
        }
    }
    if (r.pos < r.n) fail("trailing-bytes", "end", r.pos);
    if (!has_frames && count > 1) fail("frame-count", "frames", 0);
    puts_("}");
}

/* ---- the UDP beacon (spec/zre.md#beacon) ------------------------------------------------- */
static const struct { const char *name; size_t at, size; } BEACON[] = {
    {"prefix", 0, 3}, {"version", 3, 1}, {"uuid", 4, 16}, {"port", 20, 2}, {"public_key", 22, 32}};

static void beacon_cut(size_t n) {
    for (size_t i = 0; i < 5; i++)
        if (n < BEACON[i].at + BEACON[i].size) fail("bad-beacon-size", BEACON[i].name, BEACON[i].at);
}

static void decode_beacon(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n && i < 3; i++)
        if (p[i] != (uint8_t) "ZRE"[i]) fail("bad-beacon-prefix", "prefix", 0);
    if (n < 4) beacon_cut(n);
    if (p[3] != 1 && p[3] != 3) fail("bad-beacon-version", "version", 3);
    size_t size = p[3] == 1 ? 22 : 54;
    if (n < size) beacon_cut(n);
    if (n > size) fail("bad-beacon-size", "end", size);
    static const char digits[] = "0123456789ABCDEF";
    putf("{\"version\": %llu, \"uuid\": \"", p[3]);
    for (size_t i = 4; i < 20; i++) { char two[2] = {digits[p[i] >> 4], digits[p[i] & 15]}; put(two, 2); }
    putf("\", \"port\": %llu", (unsigned long long) (p[20] << 8 | p[21]));
    if (p[3] == 3) { puts_(", \"public_key\": "); put_hex(p + 22, 32); }
    puts_("}");
}


/* ---- ZMTP 3.x greeting and frames (spec/zmtp.md#json-form, #errors); offsets count from the
        first octet of the stream ---------------------------------------------------------------- */
static const struct { const char *name; size_t at, size; } GREETING[] = {
    {"signature", 0, 10}, {"major", 10, 1}, {"minor", 11, 1}, {"mechanism", 12, 20},
    {"as_server", 32, 1}, {"filler", 33, 31}};

static int mechanism_char(uint8_t c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '+';
}
static int property_char(uint8_t c) { return mechanism_char(c) || (c >= 'a' && c <= 'z'); }

static void decode_greeting(const uint8_t *p, size_t n) {
    if (n >= 1 && p[0] != 0xFF) fail("bad-signature", "signature", 0);
    if (n >= 10 && !(p[9] & 1)) fail("bad-signature", "signature", 0);
    for (size_t i = 0; n < 64 && i < 6; i++)
        if (n < GREETING[i].at + GREETING[i].size) fail("truncated", GREETING[i].name, GREETING[i].at);
    if (p[10] < 3) fail("bad-version", "major", 10);
    size_t len = 20;
    while (len > 0 && p[12 + len - 1] == 0) len--;
    if (len == 0) fail("bad-value", "mechanism", 12);
    for (size_t i = 0; i < len; i++) if (!mechanism_char(p[12 + i])) fail("bad-value", "mechanism", 12);
    if (p[32] > 1) fail("bad-value", "as_server", 32);
    if (n > 64) fail("trailing-bytes", "end", 64);
    putf("{\"major\": %llu", p[10]);
    putf(", \"minor\": %llu, \"mechanism\": ", p[11]);
    put_latin1(p + 12, len);
    puts_(p[32] ? ", \"as_server\": true, \"padding\": " : ", \"as_server\": false, \"padding\": ");
    put_hex(p + 1, 8);
    puts_("}");
}

/* a 1-octet length, then that many octets, as hex; `at` is the body's stream offset */
static size_t short_field(const uint8_t *b, size_t n, size_t pos, size_t at, const char *field) {
    if (pos >= n) fail("truncated", field, at + pos);
    if (pos + 1 + b[pos] > n) fail("length-overflow", field, at + pos);
    puts_(", \"");
    puts_(field);
    puts_("\": ");
    put_hex(b + pos + 1, b[pos]);
    return pos + 1 + b[pos];
}

static void decode_command(const uint8_t *b, size_t n, size_t at) {
    if (n < 1) fail("truncated", "name", at);
    if (b[0] == 0) fail("bad-value", "name", at);
    if (1 + (size_t) b[0] > n) fail("length-overflow", "name", at);
    const char *name = (const char *) b + 1;
    size_t nlen = b[0], pos = 1 + nlen;
#define IS(s) (nlen == strlen(s) && !memcmp(name, s, nlen))
    puts_(", \"name\": ");
    put_latin1(b + 1, nlen);
    if (IS("READY") || IS("INITIATE")) {
        puts_(", \"properties\": [");
        char field[48];
        for (unsigned i = 0; pos < n; i++) {
            snprintf(field, sizeof field, "properties[%u].key", i);
            size_t klen = b[pos];
            if (klen == 0) fail("bad-value", field, at + pos);
            if (pos + 1 + klen > n) fail("length-overflow", field, at + pos);
            for (size_t k = 0; k < klen; k++) if (!property_char(b[pos + 1 + k])) fail("bad-value", field, at + pos);
            puts_(i ? ", [" : "[");
            put_latin1(b + pos + 1, klen);
            pos += 1 + klen;
            snprintf(field, sizeof field, "properties[%u].value", i);
            if (n - pos < 4) fail("truncated", field, at + pos);
            unsigned long long vlen = (unsigned long long) b[pos] << 24 | b[pos + 1] << 16 | b[pos + 2] << 8 | b[pos + 3];
            if (vlen > n - pos - 4) fail("length-overflow", field, at + pos);
            puts_(", ");
            put_hex(b + pos + 4, (size_t) vlen);
            puts_("]");
            pos += 4 + (size_t) vlen;
        }
        puts_("]");
    } else if (IS("SUBSCRIBE") || IS("CANCEL")) {
        puts_(", \"topic\": "); put_hex(b + pos, n - pos);
    } else if (IS("PING")) {
        if (n - pos < 2) fail("truncated", "ttl", at + pos);
        putf(", \"ttl\": %llu, \"context\": ", (unsigned long long) (b[pos] << 8 | b[pos + 1]));
        put_hex(b + pos + 2, n - pos - 2);
    } else if (IS("PONG")) {
        puts_(", \"context\": "); put_hex(b + pos, n - pos);
    } else if (IS("ERROR") || IS("HELLO") || IS("WELCOME")) {
        if (IS("ERROR")) pos = short_field(b, n, pos, at, "reason");
        if (IS("HELLO")) { pos = short_field(b, n, pos, at, "username"); pos = short_field(b, n, pos, at, "password"); }
        if (pos != n) fail("trailing-bytes", "end", at + pos);
    } else {
        puts_(", \"data\": "); put_hex(b + pos, n - pos);
    }
#undef IS
}

static void decode_frames(const uint8_t *p, size_t n) {
    if (n == 0) fail("truncated", "flags", 0);
    puts_("{\"frames\": [");
    for (size_t pos = 0; pos < n;) {
        uint8_t flags = p[pos];
        if ((flags & 0xF8) || ((flags & 4) && (flags & 1))) fail("bad-value", "flags", pos);
        size_t hlen = flags & 2 ? 9 : 2;
        if (n - pos < hlen) fail("truncated", "size", pos + 1);
        unsigned long long size = 0;
        for (size_t i = 1; i < hlen; i++) size = size << 8 | p[pos + i];
        if (size >> 63 || size > n - pos - hlen) fail("length-overflow", "body", pos + 1);
        puts_(pos ? ", {\"kind\": " : "{\"kind\": ");
        puts_(flags & 4 ? "\"command\"" : "\"message\"");
        if (!(flags & 4)) puts_(flags & 1 ? ", \"more\": true" : ", \"more\": false");
        puts_(flags & 2 ? ", \"long\": true" : ", \"long\": false");
        putf(", \"size\": %llu", size);
        if (flags & 4) decode_command(p + pos + hlen, (size_t) size, pos + hlen);
        else { puts_(", \"body\": "); put_hex(p + pos + hlen, (size_t) size); }
        puts_("}");
        pos += hlen + (size_t) size;
    }
    puts_("]}");
}

/* ---- the line protocol ------------------------------------------------------------------- */
static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static const protocol_t zre = {0xA1, 2, ZRE}, zrelog = {0xA2, 0, ZRELOG}, zpipes = {0xA0, 0, ZPIPES},
                        zgossip = {0xA0, 1, ZGOSSIP};
static const protocol_t *proto;  /* the zproto protocol decoded, or NULL for a byte stream */
static void (*decode_bytes)(const uint8_t *, size_t);  /* beacon, greeting or frames */

int main(int argc, char **argv) {
    const char *name = argc == 2 ? argv[1] : "";
    if (!strcmp(name, "zre")) proto = &zre;
    else if (!strcmp(name, "zrelog")) proto = &zrelog;
    else if (!strcmp(name, "zpipes")) proto = &zpipes;
    else if (!strcmp(name, "zgossip")) proto = &zgossip;
    else if (!strcmp(name, "beacon")) decode_bytes = decode_beacon;
    else if (!strcmp(name, "zmtp-greeting")) decode_bytes = decode_greeting;
    else if (!strcmp(name, "zmtp-frame")) decode_bytes = decode_frames;
    else {
        fprintf(stderr, "usage: %s zre|zrelog|zpipes|zgossip|beacon|zmtp-greeting|zmtp-frame\n", argv[0]);
        return 2;
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        /* split into frames, decoding the hex in place */
        uint8_t *frames[4096];
        size_t sizes[4096], count = 0;
        for (char *tok = strtok(line, " \n"); tok && count < 4096; tok = strtok(NULL, " \n")) {
            size_t len = strcmp(tok, "-") ? strlen(tok) / 2 : 0;
            for (size_t i = 0; i < len; i++)
                tok[i] = (char) (hexval(tok[2 * i]) << 4 | hexval(tok[2 * i + 1]));
            frames[count] = (uint8_t *) tok;
            sizes[count++] = len;
        }
        out_len = 0;
        put("", 0);
        if (setjmp(fail_jump) == 0) {
            if (decode_bytes) decode_bytes(count ? frames[0] : (uint8_t *) "", count ? sizes[0] : 0);
            else decode_zproto(proto, frames, sizes, count);
            printf("ok %s\n", out);
        } else if (decode_bytes) {
            printf("error %s %s - %zu\n", fail_code, fail_field, fail_offset);
        } else {
            int frame = !strcmp(fail_code, "frame-count") && count > 1;
            printf("error %s %s %d %zu\n", fail_code, fail_field, frame, fail_offset);
        }
        fflush(stdout);
    }
    free(line);
    free(out);
    return 0;
}
