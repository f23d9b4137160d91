// Feature flags of the ICUPA app (runbook §4: new code paths are guarded behind a flag declared here).
export const flags = {
  // Tenant profiles move to their own table (release tenant-profiles); rollout plan in zdm.toml.
  "tenant.enableNewProfile": { default: false, owner: "platform" },
} as const;

export type FlagName = keyof typeof flags;
