import type { FastifyInstance } from 'fastify';
import { etagOf } from '../platform/etag.js';
import { errorResponses, listOf, noContent } from '../platform/http/schemas.js';
import { ifMatchOf, sendNoContent, tenantContextOf } from '../platform/http/server.js';
import { presentAssignment, presentPool, presentProduct, presentUsage } from './present.js';
import {
  assignBody,
  assignmentResponse,
  idParams,
  licenseParams,
  pageQuery,
  poolCreateBody,
  poolListQuery,
  poolPatchBody,
  poolResponse,
  productCreateBody,
  productResponse,
  usageParams,
  usageQuery,
  usageResponse,
} from './schema.js';
import type { LicenseService, PoolInput } from './service.js';

type Paged = { limit: number; cursor?: string };
const writeErrors = {
  ...errorResponses,
  409: { $ref: 'Problem#' },
  412: { $ref: 'Problem#' },
  413: { $ref: 'Problem#' },
  415: { $ref: 'Problem#' },
  422: { $ref: 'Problem#' },
};

/** Products, pools and a user's license assignments under /api/v1. */
export function licenseRoutes(app: FastifyInstance, s: { licenses: LicenseService }): void {
  app.addSchema(productResponse);
  app.addSchema(poolResponse);
  app.addSchema(assignmentResponse);
  app.addSchema(usageResponse);
  const tenant = { auth: 'tenant' as const };

  app.post<{ Body: { sku: string; name: string } }>(
    '/api/v1/products',
    {
      config: { ...tenant, permission: 'pools:manage' },
      schema: {
        tags: ['licenses'],
        body: productCreateBody,
        response: { 201: { $ref: 'Product#' }, ...writeErrors },
      },
    },
    async (req, reply) =>
      reply.code(201).send(presentProduct(await s.licenses.createProduct(tenantContextOf(req), req.body))),
  );
  app.get<{ Querystring: Paged }>(
    '/api/v1/products',
    {
      config: { ...tenant, permission: 'pools:read' },
      schema: {
        tags: ['licenses'],
        querystring: { type: 'object', additionalProperties: false, properties: pageQuery },
        response: { 200: listOf({ $ref: 'Product#' }), ...errorResponses },
      },
    },
    async (req) => {
      const page = await s.licenses.listProducts(tenantContextOf(req), req.query);
      return { ...page, items: page.items.map(presentProduct) };
    },
  );

  app.get<{ Params: { sku: string }; Querystring: { since?: string; until?: string } }>(
    '/api/v1/products/:sku/usage',
    {
      config: { ...tenant, permission: 'pools:read' },
      schema: {
        tags: ['licenses'],
        description:
          "The utilisation history of the product's pools over [since, until] (default: the 24 hours up to now; at most 400 days): each pool's rows in time order, written by the sampler when a counter changed, the first being the value in force at `since`. At most the newest 10000 rows per pool.",
        params: usageParams,
        querystring: usageQuery,
        response: { 200: { $ref: 'ProductUsage#' }, ...errorResponses },
      },
    },
    async (req) => presentUsage(await s.licenses.usage(tenantContextOf(req), req.params.sku, req.query)),
  );

  app.post<{ Body: Required<Pick<PoolInput, 'product' | 'name' | 'capacity'>> & PoolInput }>(
    '/api/v1/pools',
    {
      config: { ...tenant, permission: 'pools:manage' },
      schema: {
        tags: ['licenses'],
        body: poolCreateBody,
        response: { 201: { $ref: 'Pool#' }, ...writeErrors },
      },
    },
    async (req, reply) => {
      const pool = await s.licenses.createPool(tenantContextOf(req), req.body);
      return reply
        .code(201)
        .header('etag', etagOf(pool.version))
        .header('location', `/api/v1/pools/${pool.id}`)
        .send(presentPool(pool));
    },
  );
  app.get<{ Querystring: Paged & { product?: string } }>(
    '/api/v1/pools',
    {
      config: { ...tenant, permission: 'pools:read' },
      schema: {
        tags: ['licenses'],
        querystring: poolListQuery,
        response: { 200: listOf({ $ref: 'Pool#' }), ...errorResponses },
      },
    },
    async (req) => {
      const { limit, cursor, product } = req.query;
      const page = await s.licenses.listPools(
        tenantContextOf(req),
        product === undefined ? {} : { product },
        {
          limit,
          ...(cursor ? { cursor } : {}),
        },
      );
      return { ...page, items: page.items.map(presentPool) };
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api/v1/pools/:id',
    {
      config: { ...tenant, permission: 'pools:read' },
      schema: {
        tags: ['licenses'],
        params: idParams,
        response: { 200: { $ref: 'Pool#' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const pool = await s.licenses.getPool(tenantContextOf(req), req.params.id);
      return reply.header('etag', etagOf(pool.version)).send(presentPool(pool));
    },
  );
  app.patch<{ Params: { id: string }; Body: Omit<PoolInput, 'product'> }>(
    '/api/v1/pools/:id',
    {
      config: { ...tenant, permission: 'pools:manage' },
      schema: {
        tags: ['licenses'],
        description:
          'Rename, resize, reprioritise, rescope or change the utilisation cap of a pool. Lowering capacity below `used` is refused (409).',
        params: idParams,
        body: poolPatchBody,
        response: { 200: { $ref: 'Pool#' }, ...writeErrors },
      },
    },
    async (req, reply) => {
      const pool = await s.licenses.updatePool(tenantContextOf(req), req.params.id, req.body, ifMatchOf(req));
      return reply.header('etag', etagOf(pool.version)).send(presentPool(pool));
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/api/v1/pools/:id',
    {
      config: { ...tenant, permission: 'pools:manage' },
      schema: {
        tags: ['licenses'],
        description: 'Only a pool with no seat in use',
        params: idParams,
        response: { 204: noContent, ...writeErrors },
      },
    },
    async (req, reply) => {
      await s.licenses.deletePool(tenantContextOf(req), req.params.id, ifMatchOf(req));
      return sendNoContent(reply);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/users/:id/licenses',
    {
      config: { ...tenant, permission: 'licenses:read' },
      schema: {
        tags: ['licenses'],
        params: idParams,
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: { $ref: 'Assignment#' } } } },
          ...errorResponses,
        },
      },
    },
    async (req) => ({
      items: (await s.licenses.listForUser(tenantContextOf(req), req.params.id)).map(presentAssignment),
    }),
  );
  app.post<{ Params: { id: string }; Body: { product: string } }>(
    '/api/v1/users/:id/licenses',
    {
      config: { ...tenant, permission: 'licenses:assign' },
      schema: {
        tags: ['licenses'],
        description:
          'A seat from the first eligible pool with room, else a waitlist place. 201 when created, 200 when the user already had it.',
        params: idParams,
        body: assignBody,
        response: { 200: { $ref: 'Assignment#' }, 201: { $ref: 'Assignment#' }, ...writeErrors },
      },
    },
    async (req, reply) => {
      const { assignment, created } = await s.licenses.assign(
        tenantContextOf(req),
        req.params.id,
        req.body.product,
      );
      return reply.code(created ? 201 : 200).send(presentAssignment(assignment));
    },
  );
  app.delete<{ Params: { id: string; sku: string } }>(
    '/api/v1/users/:id/licenses/:sku',
    {
      config: { ...tenant, permission: 'licenses:assign' },
      schema: { tags: ['licenses'], params: licenseParams, response: { 204: noContent, ...writeErrors } },
    },
    async (req, reply) => {
      await s.licenses.release(tenantContextOf(req), req.params.id, req.params.sku);
      return sendNoContent(reply);
    },
  );
}
