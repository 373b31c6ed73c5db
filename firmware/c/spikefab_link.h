/* spikefab host link: portable C99 driver of the byte layer (docs/host_link.md).
 *
 * Frames: seq (1) | cmd (1) | length (2, LE) | payload | CRC-16/IBM-3740 (2, MSB first),
 * COBS-encoded and followed by a 0x00 delimiter. No heap, no global state: the receiver
 * works in a buffer the caller provides, and byte I/O goes through two callbacks.
 */
#ifndef SPIKEFAB_LINK_H
#define SPIKEFAB_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "spikefab_link_protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Byte I/O: get_byte returns the next byte received (0..255), or -1 when none is available
 * now; put_byte sends one byte. ctx is passed through unchanged. */
typedef int (*sfl_get_byte_fn)(void *ctx);
typedef void (*sfl_put_byte_fn)(void *ctx, uint8_t byte);

/* CRC-16/IBM-3740 of data, continuing from crc (start with SFL_CRC_INIT). */
uint16_t sfl_crc16_update(uint16_t crc, const uint8_t *data, size_t len);
uint16_t sfl_crc16(const uint8_t *data, size_t len);

/* COBS-encode len bytes (len >= 1) into out, which must hold len + len / 254 + 1 bytes; no
 * delimiter is written. Returns the encoded length. */
size_t sfl_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);
/* Decode one COBS frame (no delimiter) into out (cap bytes). Returns the decoded length, or
 * -1 if the frame is malformed or does not fit. */
long sfl_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* The frame before COBS (len + SFL_OVERHEAD_BYTES bytes written to out). */
size_t sfl_frame_build(uint8_t seq, uint8_t cmd, const uint8_t *payload, uint16_t len,
                       uint8_t *out);
/* Send one frame: COBS-encoded on the fly (no buffer), then the delimiter. */
void sfl_send_frame(sfl_put_byte_fn put, void *ctx, uint8_t seq, uint8_t cmd,
                    const uint8_t *payload, uint16_t len);
/* Send the error reply code to a frame with seq and cmd. */
void sfl_send_error(sfl_put_byte_fn put, void *ctx, uint8_t code, uint8_t seq, uint8_t cmd);

enum sfl_event_kind { SFL_EVENT_FRAME = 1, SFL_EVENT_ERROR = 2 };

/* What a delimiter completed: a good frame (payload points into the decoder's buffer and
 * stays valid until the next byte is fed) or an error (code, and the offending frame's seq
 * and cmd, 0 where the frame was too short to have them). */
typedef struct {
    uint8_t kind;
    uint8_t code;
    uint8_t seq;
    uint8_t cmd;
    uint16_t length;
    const uint8_t *payload;
} sfl_event;

/* A streaming receiver; resynchronises at every 0x00, whatever came before. */
typedef struct {
    uint8_t *buf;               /* max_payload + SFL_OVERHEAD_BYTES bytes */
    size_t cap;
    const uint8_t *commands;    /* 32-byte bitmap of accepted commands, or NULL */
    size_t count;               /* decoded bytes of the current frame */
    size_t raw;                 /* raw bytes since the last delimiter */
    uint8_t remaining;          /* data bytes left in the current COBS block */
    uint8_t code;               /* current COBS code byte, 0 before the first */
    uint8_t oversize;
} sfl_decoder;

/* buf holds cap = max_payload + SFL_OVERHEAD_BYTES bytes (max_payload 1..65535). commands
 * is a bitmap (bit c % 8 of byte c / 8 set: command c accepted), or NULL for every command
 * but SFL_CMD_ERROR. Returns 0, or -1 if cap is out of range. */
int sfl_decoder_init(sfl_decoder *d, uint8_t *buf, size_t cap, const uint8_t *commands);
/* Take one byte; returns 1 and fills *ev when it completes a frame or an error, else 0. */
int sfl_decoder_feed(sfl_decoder *d, uint8_t byte, sfl_event *ev);
/* Read bytes with get until one completes an event (returns 1) or get returns -1 (0). */
int sfl_receive(sfl_decoder *d, sfl_get_byte_fn get, void *ctx, sfl_event *ev);

#ifdef __cplusplus
}
#endif

#endif /* SPIKEFAB_LINK_H */
