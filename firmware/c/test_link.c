/* Unit test of the C driver against the shared known-answer vectors
 * (firmware/vectors/link_vectors.json, turned into vectors.inc by tests/test_link_c.py).
 * Prints every mismatch and a summary; exits 0 only if all checks pass. */
#include <stdio.h>
#include <string.h>

#include "spikefab_link.h"

struct crc_case { const uint8_t *data; size_t len; uint16_t crc; };
struct cobs_case { const uint8_t *data; size_t len; const uint8_t *enc; size_t enc_len; };
struct frame_case {
    uint8_t seq, cmd;
    const uint8_t *payload; size_t len;
    const uint8_t *frame; size_t frame_len;
    const uint8_t *wire; size_t wire_len;
};
struct event_case { uint8_t kind, code, seq, cmd; const uint8_t *payload; size_t len; };
struct stream_case {
    const char *name;
    const uint8_t *wire; size_t wire_len;
    const struct event_case *events; size_t n_events;
    const uint8_t *replies; size_t replies_len;
};

#include "vectors.inc"

static int checks, failures;

static void check(int ok, const char *what, const char *name)
{
    checks++;
    if (!ok) {
        failures++;
        printf("FAIL %s: %s\n", what, name);
    }
}

struct byte_buf { uint8_t data[8192]; size_t n; size_t pos; };

static void put_byte(void *ctx, uint8_t byte)
{
    struct byte_buf *b = (struct byte_buf *)ctx;
    if (b->n < sizeof b->data)
        b->data[b->n++] = byte;
}

static int get_byte(void *ctx)
{
    struct byte_buf *b = (struct byte_buf *)ctx;
    return b->pos < b->n ? b->data[b->pos++] : -1;
}

static int same(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static void test_crc(void)
{
    size_t i;
    check(sfl_crc16((const uint8_t *)"123456789", 9) == SFL_CRC_CHECK, "crc check", "");
    for (i = 0; i < sizeof crc_cases / sizeof crc_cases[0]; i++)
        check(sfl_crc16(crc_cases[i].data, crc_cases[i].len) == crc_cases[i].crc, "crc", "");
}

static void test_cobs(void)
{
    static uint8_t out[1024];
    size_t i;
    long n;
    for (i = 0; i < sizeof cobs_cases / sizeof cobs_cases[0]; i++) {
        const struct cobs_case *c = &cobs_cases[i];
        size_t m = sfl_cobs_encode(c->data, c->len, out);
        check(same(out, m, c->enc, c->enc_len), "cobs encode", "");
        n = sfl_cobs_decode(c->enc, c->enc_len, out, sizeof out);
        check(n >= 0 && same(out, (size_t)n, c->data, c->len), "cobs decode", "");
    }
}

static void test_frames(void)
{
    static uint8_t out[2048];
    static struct byte_buf b;
    size_t i, n;
    for (i = 0; i < sizeof frame_cases / sizeof frame_cases[0]; i++) {
        const struct frame_case *c = &frame_cases[i];
        n = sfl_frame_build(c->seq, c->cmd, c->payload, (uint16_t)c->len, out);
        check(same(out, n, c->frame, c->frame_len), "frame build", "");
        b.n = 0;
        sfl_send_frame(put_byte, &b, c->seq, c->cmd, c->payload, (uint16_t)c->len);
        check(same(b.data, b.n, c->wire, c->wire_len), "frame send", "");
    }
}

static void test_streams(void)
{
    static uint8_t buf[VECTOR_MAX_PAYLOAD + SFL_OVERHEAD_BYTES];
    static struct byte_buf in, replies;
    size_t i, k;
    sfl_decoder d;
    sfl_event ev;
    for (i = 0; i < sizeof stream_cases / sizeof stream_cases[0]; i++) {
        const struct stream_case *s = &stream_cases[i];
        check(sfl_decoder_init(&d, buf, sizeof buf, vector_commands) == 0, "init", s->name);
        memcpy(in.data, s->wire, s->wire_len);
        in.n = s->wire_len;
        in.pos = 0;
        replies.n = 0;
        k = 0;
        while (sfl_receive(&d, get_byte, &in, &ev)) {
            const struct event_case *e = k < s->n_events ? &s->events[k] : NULL;
            check(e != NULL, "an event too many", s->name);
            if (e == NULL)
                break;
            check(ev.kind == e->kind && ev.seq == e->seq && ev.cmd == e->cmd, "event", s->name);
            if (ev.kind == SFL_EVENT_FRAME)
                check(same(ev.payload, ev.length, e->payload, e->len), "payload", s->name);
            else {
                check(ev.code == e->code, "error code", s->name);
                sfl_send_error(put_byte, &replies, ev.code, ev.seq, ev.cmd);
            }
            k++;
        }
        check(k == s->n_events, "event count", s->name);
        check(same(replies.data, replies.n, s->replies, s->replies_len), "replies", s->name);
    }
}

int main(void)
{
    static uint8_t small[8];
    sfl_decoder d;
    check(sfl_decoder_init(&d, small, SFL_OVERHEAD_BYTES, NULL) == -1, "init rejects", "");
    test_crc();
    test_cobs();
    test_frames();
    test_streams();
    printf("%d checks, %d failures\n", checks, failures);
    return failures != 0;
}
