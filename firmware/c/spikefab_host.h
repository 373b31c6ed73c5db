/* spikefab host link: portable C99 driver of the command layer (docs/host_link.md §2).
 *
 * Builds on spikefab_link.h (frames). No heap, no global state: a sfl_host holds the two
 * byte callbacks and a receive buffer the caller provides. Requests are request/response:
 * each call sends one frame and reads the reply frames up to the final one.
 *
 * Host words (the design's command and reply formats) are byte arrays, little-endian, of
 * cmd_bytes and reply_bytes bytes; build and read their fields with sfl_word_set/get and the
 * offsets of a design header generated for the design (python -m
 * spikefab.firmware.link_cgen --design IMAGE.npz OUT.h). */
#ifndef SPIKEFAB_HOST_H
#define SPIKEFAB_HOST_H

#include "spikefab_link.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Results below 0 are the driver's own; above 0, the code of the design's error reply
 * (enum sfl_error). */
enum sfl_result {
    SFL_OK = 0,
    SFL_E_TIMEOUT = -1,     /* get_byte returned -1 more than max_idle times in a row */
    SFL_E_PROTOCOL = -2,    /* a reply frame the protocol does not allow here */
    SFL_E_ARGUMENT = -3     /* a bad argument (too many bytes, a word size of 0, ...) */
};

typedef struct {
    sfl_get_byte_fn get;
    sfl_put_byte_fn put;
    void *ctx;
    sfl_decoder dec;
    uint8_t seq;
    uint8_t flushed;
    uint16_t max_payload;
    uint8_t cmd_bytes;
    uint8_t reply_bytes;
    unsigned long max_idle;   /* polls of get_byte returning -1 before SFL_E_TIMEOUT */
} sfl_host;

typedef struct {
    uint8_t version;
    uint32_t digest;
    uint8_t cmd_bytes;
    uint8_t reply_bytes;
    uint16_t max_payload;
} sfl_identity;

/* Called for every reply frame of a request (cmd has SFL_REPLY_BIT set). */
typedef void (*sfl_frame_fn)(void *user, uint8_t cmd, const uint8_t *payload, uint16_t len);
/* Called for every reply word of a SFL_CMD_HOST request (reply_bytes bytes). */
typedef void (*sfl_word_fn)(void *user, const uint8_t *word);

/* rx_buf: cap >= max(max_payload, SFL_IDENTIFY_BYTES) + SFL_OVERHEAD_BYTES bytes. Returns 0,
 * or -1 for a bad argument. */
int sfl_host_init(sfl_host *h, uint8_t *rx_buf, size_t cap, sfl_get_byte_fn get,
                  sfl_put_byte_fn put, void *ctx, uint16_t max_payload, uint8_t cmd_bytes,
                  uint8_t reply_bytes, unsigned long max_idle);
/* One request frame; on_frame (may be NULL) gets each reply frame. */
int sfl_host_request(sfl_host *h, uint8_t cmd, const uint8_t *payload, uint16_t len,
                     sfl_frame_fn on_frame, void *user);
/* IDENTIFY; fills *id. Compare id->digest with the design header's SFD_DIGEST. */
int sfl_identify(sfl_host *h, sfl_identity *id);
/* n command words (n * cmd_bytes bytes), cut into HOST frames; on_word gets each reply word. */
int sfl_host_words(sfl_host *h, const uint8_t *words, size_t n, sfl_word_fn on_word,
                   void *user);

/* Fields of little-endian words: width 1..32 bits at bit offset off. */
void sfl_word_set(uint8_t *word, unsigned off, unsigned width, uint32_t value);
uint32_t sfl_word_get(const uint8_t *word, unsigned off, unsigned width);

#ifdef __cplusplus
}
#endif

#endif /* SPIKEFAB_HOST_H */
