/* Unit test of the C command layer (spikefab_host.c) against the shared command vectors
 * (firmware/vectors/command_vectors.json, turned into command_vectors.inc by
 * tests/test_link_c.py) and the design header generated for the vectors' design. */
#include <stdio.h>
#include <string.h>

#include "spikefab_host.h"
#include "design.h"

struct exchange {
    const char *name;
    uint8_t cmd;
    const uint8_t *words;
    size_t n_words;
    const uint8_t *request;
    size_t request_len;
    const uint8_t *reply;
    size_t reply_len;
    int result;
    const uint8_t *replies;
    size_t n_replies;
};

#include "command_vectors.inc"

static int checks, failures;

static void check(int ok, const char *what, const char *name)
{
    checks++;
    if (!ok) {
        failures++;
        printf("FAIL: %s (%s)\n", what, name);
    }
}

struct wire {
    uint8_t out[4096];
    size_t n_out;
    const uint8_t *in;
    size_t n_in, pos;
};

static int get_byte(void *ctx)
{
    struct wire *w = (struct wire *)ctx;
    return w->pos < w->n_in ? w->in[w->pos++] : -1;
}

static void put_byte(void *ctx, uint8_t byte)
{
    struct wire *w = (struct wire *)ctx;
    if (w->n_out < sizeof w->out)
        w->out[w->n_out++] = byte;
}

struct words { uint8_t data[64][SFD_REPLY_BYTES]; size_t n; };

static void on_word(void *user, const uint8_t *word)
{
    struct words *w = (struct words *)user;
    if (w->n < 64)
        memcpy(w->data[w->n++], word, SFD_REPLY_BYTES);
}

int main(void)
{
    static uint8_t rx[SFD_MAX_PAYLOAD + SFL_OVERHEAD_BYTES];
    static struct wire w;
    static struct words got;
    sfl_host h;
    sfl_identity id;
    size_t i;
    uint8_t word[SFD_CMD_BYTES];

    check(sfl_host_init(&h, rx, sizeof rx, get_byte, put_byte, &w, SFD_MAX_PAYLOAD,
                        SFD_CMD_BYTES, SFD_REPLY_BYTES, 100) == 0, "init", "");
    for (i = 0; i < sizeof exchanges / sizeof exchanges[0]; i++) {
        const struct exchange *e = &exchanges[i];
        int r;
        w.n_out = 0;
        w.in = e->reply;
        w.n_in = e->reply_len;
        w.pos = 0;
        got.n = 0;
        if (e->cmd == SFL_CMD_IDENTIFY) {
            r = sfl_identify(&h, &id);
            check(r == 0 && id.digest == SFD_DIGEST && id.cmd_bytes == SFD_CMD_BYTES
                  && id.reply_bytes == SFD_REPLY_BYTES && id.max_payload == SFD_MAX_PAYLOAD
                  && id.version == SFL_LINK_VERSION, "identity", e->name);
        } else {
            r = sfl_host_words(&h, e->words, e->n_words, on_word, &got);
        }
        check(r == e->result, "result", e->name);
        check(w.n_out == e->request_len && memcmp(w.out, e->request, w.n_out) == 0,
              "request bytes", e->name);
        check(got.n == e->n_replies, "reply count", e->name);
        if (got.n == e->n_replies && got.n)
            check(memcmp(got.data, e->replies, got.n * SFD_REPLY_BYTES) == 0, "replies",
                  e->name);
        check(w.pos == w.n_in, "every reply byte taken", e->name);
    }
    /* the first read word of the vectors, built from the design header's offsets */
    memset(word, 0, sizeof word);
    sfl_word_set(word, SFD_CMD_OP_OFF, SFD_CMD_OP_W, SFD_OP_READ);
    sfl_word_set(word, SFD_CMD_ARG_CFG_ADDR_REGION_OFF, SFD_CMD_ARG_CFG_ADDR_REGION_W,
                 SFD_REGION_SYN);
    sfl_word_set(word, SFD_CMD_ARG_CFG_ADDR_INDEX_OFF, SFD_CMD_ARG_CFG_ADDR_INDEX_W, 0);
    check(memcmp(word, exchanges[2].words, SFD_CMD_BYTES) == 0, "word from the header", "");
    check(sfl_word_get(exchanges[2].replies, SFD_REPLY_KIND_OFF, SFD_REPLY_KIND_W)
          == SFD_KIND_DATA, "reply kind", "");
    check(sfl_word_get(exchanges[2].replies + 3 * SFD_REPLY_BYTES, SFD_REPLY_BODY_DATA_OFF,
                       SFD_REPLY_BODY_DATA_W) == 0x55, "reply data", "");
    /* a silent design: a timeout, not a hang */
    w.n_in = 0;
    w.pos = 0;
    check(sfl_identify(&h, &id) == SFL_E_TIMEOUT, "timeout", "");
    printf("%d checks, %d failures\n", checks, failures);
    return failures != 0;
}
