import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { OrgRecord } from '../../ports/tenancy.js';
import { HttpError } from '../errors.js';
import { envelope } from '../schemas.js';
import { ERROR_RESPONSES, callerOf } from './route-kit.js';

export interface OrgSource {
  getOrg(orgId: string): Promise<OrgRecord | undefined>;
}

/**
 * Orgs (spec O1, O2). A token belongs to one org: that is the caller's only org, and any other answers 404
 * as if it did not exist.
 */
export const orgRoutes: FastifyPluginAsyncZod<{ orgs: OrgSource }> = async (app, { orgs }) => {
  const OrgIdParams = z.object({ org_id: z.string() });
  app.get(
    '/v1/orgs/id/:org_id',
    {
      schema: {
        summary: 'Get an org by id (spec O1)',
        params: OrgIdParams,
        response: { 200: envelope(OrgRecord), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const orgId = request.params.org_id;
      const org = orgId === callerOf(request).orgId ? await orgs.getOrg(orgId) : undefined;
      if (org === undefined) throw new HttpError(404, 'RobotoNotFoundException', `org ${orgId} not found`);
      return { data: org };
    },
  );

  app.get(
    '/v1/orgs/caller',
    {
      schema: {
        summary: "The caller's orgs (spec O2)",
        response: { 200: envelope(z.array(OrgRecord)), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const org = await orgs.getOrg(callerOf(request).orgId);
      return { data: org === undefined ? [] : [org] };
    },
  );

  await Promise.resolve();
};
