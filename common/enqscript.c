/*
 * enqscript.c - the Lua script that puts one event on the stream (see
 * enqscript.h).
 */
#include <stddef.h>

#include "enqscript.h"

/*
 * The script.  KEYS: the dedup key when the event has one, then the stream.
 * ARGV: id, source, received_at, content_type, headers, body,
 * dedup_window_s, then optionally the idempotency key (kept in the entry,
 * so that the events row carries it; "" for none) and the event type.
 * Returns {0, id} for a new event, {1, first id} for a duplicate.  Redis
 * runs a script without interleaving any other command, so check, append
 * and mark happen as one step.
 */
const char hk_enqscript[] =
    /* The stream is always the last key. */
    "local stream = KEYS[#KEYS]\n"
    /* A key seen within its window: answer with the first event's id and
     * add nothing. */
    "if #KEYS == 2 then\n"
    "  local first = redis.call('GET', KEYS[1])\n"
    "  if first then return {1, first} end\n"
    "end\n"
    /* New: append the event.  The stream assigns the entry id; the event
     * id travels as a field. */
    "local f = {'id', ARGV[1], 'source', ARGV[2], 'received_at', ARGV[3],\n"
    "  'content_type', ARGV[4], 'headers', ARGV[5], 'body', ARGV[6]}\n"
    "if ARGV[8] and ARGV[8] ~= '' then\n"
    "  f[#f + 1] = 'idempotency_key'; f[#f + 1] = ARGV[8]\n"
    "end\n"
    "if ARGV[9] and ARGV[9] ~= '' then\n"
    "  f[#f + 1] = 'event_type'; f[#f + 1] = ARGV[9]\n"
    "end\n"
    "redis.call('XADD', stream, '*', unpack(f))\n"
    /* Then remember the key for the source's window.  After the XADD, so
     * that a key never exists without its event. */
    "if #KEYS == 2 then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[7])\n"
    "end\n"
    "return {0, ARGV[1]}\n";

const size_t hk_enqscript_len = sizeof(hk_enqscript) - 1;
