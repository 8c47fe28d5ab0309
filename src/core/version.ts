// Sent as $lib_version and in the User-Agent; a test keeps it equal to package.json.
export const LIB_NAME = "convex-posthog";
export const LIB_VERSION = "0.1.0";
