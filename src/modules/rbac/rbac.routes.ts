import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { accessOf } from "../../core/auth/index.js";
import { signedIn } from "../../core/http/access.js";
import { problemResponse } from "../../core/http/route-docs.js";
import { permissionCatalog, requirePermission } from "../../core/permissions/index.js";
import {
  createRoleBody,
  listQuery,
  memberPageSchema,
  memberParams,
  memberSchema,
  permissionCatalogSchema,
  rolePageSchema,
  roleParams,
  roleSchema,
  setMemberRolesBody,
  updateRoleBody,
} from "./rbac.schemas.js";
import type { RbacService } from "./rbac.service.js";

/** The permission catalog, the tenant's roles and its members. */
export const rbacRoutes: FastifyPluginAsyncZod<{ rbac: RbacService }> = async (app, { rbac }) => {
  const catalog = {
    items: [...permissionCatalog().permissions].map(([permission, description]) => ({
      permission,
      description,
    })),
  };
  app.get(
    "/permissions",
    {
      config: { access: signedIn },
      schema: {
        operationId: "listPermissions",
        summary: "List the permission catalog",
        description: "Every permission a role may grant, with what it allows.",
        tags: ["roles"],
        response: { 200: permissionCatalogSchema },
      },
    },
    async () => catalog,
  );

  app.get(
    "/roles",
    {
      config: { access: requirePermission("roles", "read") },
      schema: {
        operationId: "listRoles",
        summary: "List the tenant's roles",
        description: "System roles and the tenant's custom roles, with their permissions.",
        tags: ["roles"],
        querystring: listQuery,
        response: { 200: rolePageSchema },
      },
    },
    async (request) => rbac.listRoles(request.tenantDb, request.query.limit, request.query.cursor),
  );

  app.post(
    "/roles",
    {
      config: { access: requirePermission("roles", "create") },
      schema: {
        operationId: "createRole",
        summary: "Create a role",
        description:
          "Permissions must be in the catalog (or `resource:*`, `*`), and held by the caller.",
        tags: ["roles"],
        body: createRoleBody,
        response: {
          201: roleSchema,
          409: problemResponse("A role with this name exists, or the name is a system role's."),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await rbac.createRole(request.tenantDb, accessOf(request), request.body)),
  );

  app.patch(
    "/roles/:id",
    {
      config: { access: requirePermission("roles", "update") },
      schema: {
        operationId: "updateRole",
        summary: "Change a role",
        description:
          "System roles answer 409. A change of permissions applies on the next request.",
        tags: ["roles"],
        params: roleParams,
        body: updateRoleBody,
        response: {
          200: roleSchema,
          409: problemResponse(
            "A system role, or a name another role (or a system role) already has.",
          ),
        },
      },
    },
    async (request) =>
      rbac.updateRole(request.tenantDb, accessOf(request), request.params.id, request.body),
  );

  app.delete(
    "/roles/:id",
    {
      config: { access: requirePermission("roles", "delete") },
      schema: {
        operationId: "deleteRole",
        summary: "Delete a role",
        description: "System roles answer 409. Members holding the role lose it.",
        tags: ["roles"],
        params: roleParams,
        response: { 204: z.null(), 409: problemResponse("System roles cannot be deleted.") },
      },
    },
    async (request, reply) => {
      await rbac.deleteRole(request.tenantDb, accessOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/members",
    {
      config: { access: requirePermission("members", "read") },
      schema: {
        operationId: "listMembers",
        summary: "List the tenant's members",
        description: "Every active member with their roles.",
        tags: ["members"],
        querystring: listQuery,
        response: { 200: memberPageSchema },
      },
    },
    async (request) =>
      rbac.listMembers(request.tenantDb, request.query.limit, request.query.cursor),
  );

  app.put(
    "/members/:userId/roles",
    {
      config: { access: requirePermission("members", "update") },
      schema: {
        operationId: "setMemberRoles",
        summary: "Set a member's roles",
        description:
          "Takes effect on the member's next request. The tenant keeps at least one owner; nobody grants permissions they do not hold.",
        tags: ["members"],
        params: memberParams,
        body: setMemberRolesBody,
        response: {
          200: memberSchema,
          409: problemResponse("The tenant must keep at least one owner."),
        },
      },
    },
    async (request) =>
      rbac.setMemberRoles(
        request.tenantDb,
        accessOf(request),
        request.params.userId,
        request.body.roleIds,
      ),
  );

  app.delete(
    "/members/:userId",
    {
      config: { access: requirePermission("members", "delete") },
      schema: {
        operationId: "removeMember",
        summary: "Remove a member",
        description:
          "The member's tokens for this tenant stop working at once. The last owner cannot be removed.",
        tags: ["members"],
        params: memberParams,
        response: {
          204: z.null(),
          409: problemResponse("The tenant must keep at least one owner."),
        },
      },
    },
    async (request, reply) => {
      await rbac.removeMember(request.tenantDb, accessOf(request), request.params.userId);
      return reply.code(204).send(null);
    },
  );
};
