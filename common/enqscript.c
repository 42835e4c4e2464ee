/*
 * enqscript.c - the Lua script that puts events on the stream (see
 * enqscript.h).
 */
#include <stddef.h>

#include "enqscript.h"

/*
 * The script.  KEYS: the stream, then the dedup key of each event that has
 * one, in order.  ARGV: HK_ENQSCRIPT_FIELDS values per event: id, source,
 * received_at, content_type, headers, body, dedup window in seconds ("":
 * the event has no dedup key), idempotency key (kept in the entry so that
 * the events row carries it; "": none), event type ("": none).  Returns
 * one element per event: 0 when it was added, the first event's id when
 * its key was seen within the window (nothing added).  Redis runs a script
 * without interleaving any other command, so each event's check, append
 * and mark happen as one step, and two events of one call with the same
 * key see each other.
 */
const char hk_enqscript[] =
    "local stream = KEYS[1]\n"
    /* The optional fields go as arguments: no table, no unpack. */
    "local function add(i, ...)\n"
    "  redis.call('XADD', stream, '*', 'id', ARGV[i], 'source', ARGV[i + 1],\n"
    "    'received_at', ARGV[i + 2], 'content_type', ARGV[i + 3],\n"
    "    'headers', ARGV[i + 4], 'body', ARGV[i + 5], ...)\n"
    "end\n"
    "local out, k = {}, 1\n"
    "for i = 1, #ARGV, 9 do\n"
    "  local win, key, first = ARGV[i + 6], nil, false\n"
    "  if win ~= '' then\n"
    "    k = k + 1; key = KEYS[k]\n"
    "    first = redis.call('GET', key)\n"
    "  end\n"
    "  if first then\n"
    "    out[#out + 1] = first\n"
    "  else\n"
    /* The stream assigns the entry id; the event id travels as a field. */
    "    local ik, ty = ARGV[i + 7], ARGV[i + 8]\n"
    "    if ik ~= '' and ty ~= '' then\n"
    "      add(i, 'idempotency_key', ik, 'event_type', ty)\n"
    "    elseif ik ~= '' then add(i, 'idempotency_key', ik)\n"
    "    elseif ty ~= '' then add(i, 'event_type', ty)\n"
    "    else add(i) end\n"
    /* After the XADD, so that a key never exists without its event. */
    "    if key then redis.call('SET', key, ARGV[i], 'EX', win) end\n"
    "    out[#out + 1] = 0\n"
    "  end\n"
    "end\n"
    "return out\n";

const size_t hk_enqscript_len = sizeof(hk_enqscript) - 1;
