export declare const INSTALL_COMMAND: string;
/** The redis-server command to run, or undefined when it is not on PATH. */
export declare function findRedisServer(): string | undefined;
/** Returns the redis-server command, installing it if needed and allowed; throws saying what to run otherwise. */
export declare function ensureRedisServer(): string;
