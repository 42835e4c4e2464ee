/*
 * limscript.c - the Lua script of the deployment-wide limits (see
 * limscript.h).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "limscript.h"

/*
 * The rate part is GCRA with a batch: with interval iv = 1 / rate and a
 * burst of B tokens, n tokens may be taken while tat + n * iv - now <= B *
 * iv.  The debt moves tat forward before anything is granted, so tokens a
 * worker spent on credit are paid back by everyone's next grants.
 *
 * The concurrency part: the slots held by the other holders still alive
 * are subtracted from the limit; a holder whose expiry passed is removed.
 * When another holder wants more than it holds, nobody is granted more
 * than a fair share (limit / holders that want any), so a worker with a
 * long queue cannot keep the others out.  A holder records the larger of
 * what it was granted and what it has in flight, so a worker told to
 * shrink keeps counting its attempts until they end.
 *
 * TAT is written with %.0f: Lua's tostring keeps 14 digits, and a Unix
 * time in microseconds has 16.
 */
const char hk_limscript[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local rate = tonumber(ARGV[1])\n"
    "local grant, wait, slots = 0, 0, -1\n"
    "if rate > 0 then\n"
    "  local iv = 1000000 / rate\n"
    "  local burst = tonumber(ARGV[2])\n"
    "  local want = tonumber(ARGV[3])\n"
    "  local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0\n"
    "  if tat < now then tat = now end\n"
    "  tat = tat + tonumber(ARGV[4]) * iv\n"
    "  local room = math.floor((now + burst * iv - tat) / iv + 1e-6)\n"
    "  if room < 0 then room = 0 end\n"
    "  grant = math.min(want, room)\n"
    "  tat = tat + grant * iv\n"
    "  if grant < want then\n"
    "    wait = math.ceil((tat + iv - burst * iv - now) / 1000)\n"
    "    if wait < 1 then wait = 1 end\n"
    "  end\n"
    "  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX',\n"
    "    math.max(0, math.ceil((tat - now) / 1000)) + 1000)\n"
    "else\n"
    "  grant = tonumber(ARGV[3])\n"
    "end\n"
    "if #KEYS >= 2 then\n"
    "  local holder, limit = ARGV[5], tonumber(ARGV[6])\n"
    "  local want, inuse = tonumber(ARGV[7]), tonumber(ARGV[8])\n"
    "  local ttl = tonumber(ARGV[9])\n"
    "  local nowms = math.floor(now / 1000)\n"
    "  local others, wanting, starving = 0, 0, false\n"
    "  local all = redis.call('HGETALL', KEYS[2])\n"
    "  for i = 1, #all, 2 do\n"
    "    if all[i] ~= holder then\n"
    "      local h, w, e = string.match(all[i + 1], '^(%d+):(%d+):(%d+)$')\n"
    "      if h == nil or tonumber(e) < nowms then\n"
    "        redis.call('HDEL', KEYS[2], all[i])\n"
    "      else\n"
    "        h, w = tonumber(h), tonumber(w)\n"
    "        others = others + h\n"
    "        if w > 0 then wanting = wanting + 1 end\n"
    "        if w > h then starving = true end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  slots = math.max(0, math.min(want, limit - others))\n"
    "  if starving and want > 0 then\n"
    "    local fair = math.max(1, math.floor(limit / (wanting + 1)))\n"
    "    if slots > fair then slots = fair end\n"
    "  end\n"
    "  local held = math.max(slots, inuse)\n"
    "  if held == 0 and want == 0 then\n"
    "    redis.call('HDEL', KEYS[2], holder)\n"
    "  else\n"
    "    redis.call('HSET', KEYS[2], holder,\n"
    "      held .. ':' .. want .. ':' .. (nowms + ttl))\n"
    "    redis.call('PEXPIRE', KEYS[2], ttl * 2)\n"
    "  end\n"
    "end\n"
    "return {grant, wait, slots}\n";

const size_t hk_limscript_len = sizeof(hk_limscript) - 1;

const char *
hk_limscript_sha(void)
{
	static char   hex[41];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  len = 0;

	if (hex[0] != '\0')
		return hex;
	if (EVP_Digest(hk_limscript, hk_limscript_len, md, &len, EVP_sha1(),
	    NULL) != 1 || len != 20)
		return "";
	for (unsigned i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

int
hk_limscript_lease(double rate_per_s)
{
	double n = ceil(rate_per_s / 50.0);

	return n < 1 ? 1 : n > 100000 ? 100000 : (int)n;
}

int
hk_limscript_command(const char **argv, size_t *lens, int eval)
{
	argv[0] = eval ? "EVAL" : "EVALSHA";
	lens[0] = strlen(argv[0]);
	argv[1] = eval ? hk_limscript : hk_limscript_sha();
	lens[1] = eval ? hk_limscript_len : strlen(argv[1]);
	return 2;
}
