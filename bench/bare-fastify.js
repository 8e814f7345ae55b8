// The HTTP ceiling: a bare Fastify server in its own process that parses the same JSON body Roster gets and
// answers 201 with a body of about the size Roster answers, without authentication, validation, crypto or a
// database. Usage: PORT=<port> node bench/bare-fastify.js
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

const port = Number(process.env.PORT ?? 0);
const app = Fastify({ logger: false });

app.get('/healthz', async () => ({ status: 'ok' }));

app.post('/api/v1/onboardings', async (req, reply) => {
  const { user, products = [] } = req.body;
  const now = new Date().toISOString();
  return reply.code(201).send({
    user: {
      id: randomUUID(),
      ...user,
      active: true,
      status: 'active',
      createdAt: now,
      updatedAt: now,
      version: 1,
    },
    assignments: products.map((p) => ({
      product: p,
      state: 'active',
      source: 'direct',
      pool: { id: randomUUID(), name: 'pool' },
    })),
  });
});

await app.listen({ port, host: '127.0.0.1' });

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
