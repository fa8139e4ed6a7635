// One replica of a gateway, forked by redis.test.mjs: an McpAuth over the shared Redis (as its
// storage and its lock) that, on the parent's "go", asks for the access token of one server
// `concurrent` times at once and sends back the tokens it got (or the error).
//
// argv: <config JSON> with redisUrl, namespace, key (base64), mcp, nowMs (the clock, standing
// still), concurrent, dist.

import { createClient } from 'redis';

const config = JSON.parse(process.argv[2]);
const { McpAuth } = await import(new URL('index.js', config.dist).href);
const { RedisStorage } = await import(new URL('redis.js', config.dist).href);

const client = await createClient({ url: config.redisUrl }).connect();
const store = new RedisStorage({ client, namespace: config.namespace, key: config.key });
const auth = new McpAuth({ storage: store, lock: store, now: () => config.nowMs });

process.once('message', async () => {
  try {
    const tokens = await Promise.all(Array.from({ length: config.concurrent }, () => auth.accessToken(config.mcp)));
    process.send({ tokens });
  } catch (error) {
    process.send({ error: `${error.code}: ${error.message}` });
  } finally {
    await client.close();
    process.disconnect();
  }
});
process.send({ ready: true });
