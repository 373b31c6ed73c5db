/* spikefab host link: the command layer in portable C99 (see spikefab_host.h). */
#include "spikefab_host.h"

/* every command byte, CMD_ERROR included: replies carry it */
static const uint8_t all_commands[32] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};

int sfl_host_init(sfl_host *h, uint8_t *rx_buf, size_t cap, sfl_get_byte_fn get,
                  sfl_put_byte_fn put, void *ctx, uint16_t max_payload, uint8_t cmd_bytes,
                  uint8_t reply_bytes, unsigned long max_idle)
{
    size_t need = (max_payload > SFL_IDENTIFY_BYTES ? max_payload : SFL_IDENTIFY_BYTES)
                  + SFL_OVERHEAD_BYTES;
    if (cap < need || cmd_bytes == 0 || reply_bytes == 0 || cmd_bytes > max_payload
        || reply_bytes > max_payload)
        return -1;
    if (sfl_decoder_init(&h->dec, rx_buf, cap, all_commands) != 0)
        return -1;
    h->get = get;
    h->put = put;
    h->ctx = ctx;
    h->seq = 0;
    h->flushed = 0;
    h->max_payload = max_payload;
    h->cmd_bytes = cmd_bytes;
    h->reply_bytes = reply_bytes;
    h->max_idle = max_idle;
    return 0;
}

static int next_event(sfl_host *h, sfl_event *ev)
{
    unsigned long idle = 0;
    for (;;) {
        int b = h->get(h->ctx);
        if (b < 0) {
            if (++idle > h->max_idle)
                return SFL_E_TIMEOUT;
            continue;
        }
        idle = 0;
        if (sfl_decoder_feed(&h->dec, (uint8_t)b, ev))
            return SFL_OK;
    }
}

int sfl_host_request(sfl_host *h, uint8_t cmd, const uint8_t *payload, uint16_t len,
                     sfl_frame_fn on_frame, void *user)
{
    uint8_t final_cmd = (uint8_t)(cmd | SFL_REPLY_BIT);
    sfl_event ev;
    if (len > h->max_payload)
        return SFL_E_ARGUMENT;
    h->seq = (uint8_t)(h->seq + 1);
    if (!h->flushed) {               /* end whatever partial frame the design holds */
        h->put(h->ctx, SFL_DELIMITER);
        h->flushed = 1;
    }
    sfl_send_frame(h->put, h->ctx, h->seq, cmd, payload, len);
    for (;;) {
        int r = next_event(h, &ev);
        if (r != SFL_OK)
            return r;
        if (ev.kind != SFL_EVENT_FRAME)
            return SFL_E_PROTOCOL;
        if (ev.cmd == SFL_CMD_ERROR && ev.length == SFL_ERROR_PAYLOAD_BYTES)
            return ev.payload[0] ? ev.payload[0] : SFL_E_PROTOCOL;
        if (ev.seq != h->seq || (ev.cmd != final_cmd
                                 && ev.cmd != (uint8_t)(final_cmd | SFL_MORE_BIT)))
            return SFL_E_PROTOCOL;
        if (on_frame != NULL)
            on_frame(user, ev.cmd, ev.payload, ev.length);
        if (ev.cmd == final_cmd)
            return SFL_OK;
    }
}

static uint32_t le(const uint8_t *p, unsigned n)
{
    uint32_t v = 0;
    while (n--)
        v = (v << 8) | p[n];
    return v;
}

struct identify_ctx { sfl_identity *id; int ok; };

static void on_identify(void *user, uint8_t cmd, const uint8_t *p, uint16_t len)
{
    struct identify_ctx *c = (struct identify_ctx *)user;
    (void)cmd;
    if (len != SFL_IDENTIFY_BYTES)
        return;
    c->id->version = p[0];
    c->id->digest = le(p + 1, 4);
    c->id->cmd_bytes = p[5];
    c->id->reply_bytes = p[6];
    c->id->max_payload = (uint16_t)le(p + 7, 2);
    c->ok = 1;
}

int sfl_identify(sfl_host *h, sfl_identity *id)
{
    struct identify_ctx c;
    int r;
    c.id = id;
    c.ok = 0;
    r = sfl_host_request(h, SFL_CMD_IDENTIFY, NULL, 0, on_identify, &c);
    if (r == SFL_OK && !c.ok)
        return SFL_E_PROTOCOL;
    return r;
}

struct words_ctx { const sfl_host *h; sfl_word_fn on_word; void *user; int bad; };

static void on_words(void *user, uint8_t cmd, const uint8_t *p, uint16_t len)
{
    struct words_ctx *c = (struct words_ctx *)user;
    uint16_t k;
    (void)cmd;
    if (len % c->h->reply_bytes) {
        c->bad = 1;
        return;
    }
    for (k = 0; k < len; k = (uint16_t)(k + c->h->reply_bytes))
        if (c->on_word != NULL)
            c->on_word(c->user, p + k);
}

int sfl_host_words(sfl_host *h, const uint8_t *words, size_t n, sfl_word_fn on_word,
                   void *user)
{
    size_t per = h->max_payload / h->cmd_bytes, k;
    struct words_ctx c;
    c.h = h;
    c.on_word = on_word;
    c.user = user;
    c.bad = 0;
    for (k = 0; k < n; k += per) {
        size_t m = n - k < per ? n - k : per;
        int r = sfl_host_request(h, SFL_CMD_HOST, words + k * h->cmd_bytes,
                                 (uint16_t)(m * h->cmd_bytes), on_words, &c);
        if (r != SFL_OK)
            return r;
        if (c.bad)
            return SFL_E_PROTOCOL;
    }
    return SFL_OK;
}

void sfl_word_set(uint8_t *word, unsigned off, unsigned width, uint32_t value)
{
    unsigned i;
    for (i = 0; i < width; i++) {
        unsigned bit = off + i;
        uint8_t mask = (uint8_t)(1u << (bit % 8));
        if ((value >> i) & 1u)
            word[bit / 8] |= mask;
        else
            word[bit / 8] &= (uint8_t)~mask;
    }
}

uint32_t sfl_word_get(const uint8_t *word, unsigned off, unsigned width)
{
    uint32_t v = 0;
    unsigned i;
    for (i = 0; i < width; i++) {
        unsigned bit = off + i;
        v |= (uint32_t)((word[bit / 8] >> (bit % 8)) & 1u) << i;
    }
    return v;
}
