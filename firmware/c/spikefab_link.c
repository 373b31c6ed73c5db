/* spikefab host link: portable C99 driver of the byte layer. See spikefab_link.h. */
#include "spikefab_link.h"

uint16_t sfl_crc16_update(uint16_t crc, const uint8_t *data, size_t len)
{
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8; bit++)
            crc = (uint16_t)((crc & 0x8000u) ? (((unsigned)crc << 1) ^ SFL_CRC_POLY)
                                              : ((unsigned)crc << 1));
    }
    return crc;
}

uint16_t sfl_crc16(const uint8_t *data, size_t len)
{
    return (uint16_t)(sfl_crc16_update(SFL_CRC_INIT, data, len) ^ SFL_CRC_XOROUT);
}

/* COBS over a byte source given as a function of the index, so that a frame can be sent
 * straight from its header, payload and CRC with no buffer. */
typedef uint8_t (*byte_at_fn)(const void *src, size_t i);
typedef void (*emit_fn)(void *dst, uint8_t byte);

static void cobs_encode_with(byte_at_fn at, const void *src, size_t n, emit_fn emit, void *dst)
{
    size_t pos = 0, k, i;
    for (;;) {
        k = 0;
        while (pos + k < n && at(src, pos + k) != 0 && k < SFL_COBS_BLOCK_MAX)
            k++;
        if (k == SFL_COBS_BLOCK_MAX) {
            emit(dst, (uint8_t)(SFL_COBS_BLOCK_MAX + 1));
            for (i = 0; i < k; i++)
                emit(dst, at(src, pos + i));
            pos += k;
            if (pos == n)
                return;
            continue;
        }
        emit(dst, (uint8_t)(k + 1));
        for (i = 0; i < k; i++)
            emit(dst, at(src, pos + i));
        if (pos + k >= n)
            return;
        pos += k + 1;               /* skip the zero; a zero at the end gives a final 0x01 */
    }
}

static uint8_t array_at(const void *src, size_t i)
{
    return ((const uint8_t *)src)[i];
}

struct out_buf { uint8_t *p; size_t n; };

static void emit_to_buf(void *dst, uint8_t byte)
{
    struct out_buf *o = (struct out_buf *)dst;
    o->p[o->n++] = byte;
}

size_t sfl_cobs_encode(const uint8_t *in, size_t len, uint8_t *out)
{
    struct out_buf o;
    o.p = out;
    o.n = 0;
    cobs_encode_with(array_at, in, len, emit_to_buf, &o);
    return o.n;
}

long sfl_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t i = 0, n = 0, j;
    while (i < len) {
        uint8_t code = in[i];
        if (code == 0 || i + code > len)
            return -1;
        for (j = 1; j < code; j++) {
            if (in[i + j] == 0 || n >= cap)
                return -1;
            out[n++] = in[i + j];
        }
        i += code;
        if (code != SFL_COBS_BLOCK_MAX + 1 && i < len) {
            if (n >= cap)
                return -1;
            out[n++] = 0;
        }
    }
    return (long)n;
}

struct frame_src {
    uint8_t head[SFL_HEADER_BYTES];
    const uint8_t *payload;
    size_t len;
    uint8_t crc[SFL_CRC_BYTES];
};

static uint8_t frame_at(const void *src, size_t i)
{
    const struct frame_src *f = (const struct frame_src *)src;
    if (i < SFL_HEADER_BYTES)
        return f->head[i];
    i -= SFL_HEADER_BYTES;
    if (i < f->len)
        return f->payload[i];
    return f->crc[i - f->len];
}

static void frame_src_init(struct frame_src *f, uint8_t seq, uint8_t cmd,
                           const uint8_t *payload, uint16_t len)
{
    uint16_t crc;
    f->head[0] = seq;
    f->head[1] = cmd;
    f->head[2] = (uint8_t)(len & 0xFFu);
    f->head[3] = (uint8_t)(len >> 8);
    f->payload = payload;
    f->len = len;
    crc = sfl_crc16_update(SFL_CRC_INIT, f->head, SFL_HEADER_BYTES);
    crc = (uint16_t)(sfl_crc16_update(crc, payload, len) ^ SFL_CRC_XOROUT);
    f->crc[0] = (uint8_t)(crc >> 8);
    f->crc[1] = (uint8_t)(crc & 0xFFu);
}

size_t sfl_frame_build(uint8_t seq, uint8_t cmd, const uint8_t *payload, uint16_t len,
                       uint8_t *out)
{
    struct frame_src f;
    size_t i, n = (size_t)len + SFL_OVERHEAD_BYTES;
    frame_src_init(&f, seq, cmd, payload, len);
    for (i = 0; i < n; i++)
        out[i] = frame_at(&f, i);
    return n;
}

struct put_sink { sfl_put_byte_fn put; void *ctx; };

static void emit_to_put(void *dst, uint8_t byte)
{
    struct put_sink *s = (struct put_sink *)dst;
    s->put(s->ctx, byte);
}

void sfl_send_frame(sfl_put_byte_fn put, void *ctx, uint8_t seq, uint8_t cmd,
                    const uint8_t *payload, uint16_t len)
{
    struct frame_src f;
    struct put_sink s;
    frame_src_init(&f, seq, cmd, payload, len);
    s.put = put;
    s.ctx = ctx;
    cobs_encode_with(frame_at, &f, (size_t)len + SFL_OVERHEAD_BYTES, emit_to_put, &s);
    put(ctx, SFL_DELIMITER);
}

void sfl_send_error(sfl_put_byte_fn put, void *ctx, uint8_t code, uint8_t seq, uint8_t cmd)
{
    uint8_t payload[SFL_ERROR_PAYLOAD_BYTES];
    payload[0] = code;
    payload[1] = cmd;
    sfl_send_frame(put, ctx, seq, SFL_CMD_ERROR, payload, SFL_ERROR_PAYLOAD_BYTES);
}

static void decoder_reset(sfl_decoder *d)
{
    d->count = 0;
    d->raw = 0;
    d->remaining = 0;
    d->code = 0;
    d->oversize = 0;
}

int sfl_decoder_init(sfl_decoder *d, uint8_t *buf, size_t cap, const uint8_t *commands)
{
    if (cap < SFL_OVERHEAD_BYTES + 1 || cap > (size_t)SFL_MAX_PAYLOAD_LIMIT + SFL_OVERHEAD_BYTES)
        return -1;
    d->buf = buf;
    d->cap = cap;
    d->commands = commands;
    decoder_reset(d);
    return 0;
}

static void decoder_put(sfl_decoder *d, uint8_t byte)
{
    if (d->count >= d->cap)
        d->oversize = 1;
    else if (!d->oversize)
        d->buf[d->count++] = byte;
}

static int command_known(const sfl_decoder *d, uint8_t cmd)
{
    if (d->commands == NULL)
        return cmd != SFL_CMD_ERROR;
    return (d->commands[cmd / 8] >> (cmd % 8)) & 1;
}

/* Judge the frame just ended, in the order of docs/host_link.md. */
static void decoder_judge(const sfl_decoder *d, sfl_event *ev)
{
    size_t n = d->count;
    uint16_t length;
    ev->seq = n > 0 ? d->buf[0] : 0;
    ev->cmd = n > 1 ? d->buf[1] : 0;
    ev->kind = SFL_EVENT_ERROR;
    ev->length = 0;
    ev->payload = NULL;
    if (d->oversize) {
        ev->code = SFL_ERR_OVERSIZE;
        return;
    }
    if (d->remaining != 0 || n < SFL_OVERHEAD_BYTES) {
        ev->code = SFL_ERR_CUT_SHORT;
        return;
    }
    if ((sfl_crc16_update(SFL_CRC_INIT, d->buf, n) ^ SFL_CRC_XOROUT) != SFL_CRC_RESIDUE) {
        ev->code = SFL_ERR_BAD_CRC;
        return;
    }
    length = (uint16_t)(d->buf[2] | (d->buf[3] << 8));
    if ((size_t)length != n - SFL_OVERHEAD_BYTES) {
        ev->code = SFL_ERR_BAD_LENGTH;
        return;
    }
    if (!command_known(d, ev->cmd)) {
        ev->code = SFL_ERR_UNKNOWN_COMMAND;
        return;
    }
    ev->kind = SFL_EVENT_FRAME;
    ev->code = 0;
    ev->length = length;
    ev->payload = d->buf + SFL_HEADER_BYTES;
}

int sfl_decoder_feed(sfl_decoder *d, uint8_t byte, sfl_event *ev)
{
    if (byte == SFL_DELIMITER) {
        if (d->raw == 0)
            return 0;
        decoder_judge(d, ev);
        decoder_reset(d);
        return 1;
    }
    d->raw++;
    if (d->remaining == 0) {
        if (d->code != 0 && d->code != SFL_COBS_BLOCK_MAX + 1)
            decoder_put(d, 0);
        d->code = byte;
        d->remaining = (uint8_t)(byte - 1);
    } else {
        decoder_put(d, byte);
        d->remaining--;
    }
    return 0;
}

int sfl_receive(sfl_decoder *d, sfl_get_byte_fn get, void *ctx, sfl_event *ev)
{
    int c;
    while ((c = get(ctx)) >= 0) {
        if (sfl_decoder_feed(d, (uint8_t)c, ev))
            return 1;
    }
    return 0;
}
