import { SkeinError, registerErrorClass } from '../core/errors.js';

/** Where in a task graph an error happened. */
export interface NodeInfo {
  /** The node's label: its `name` option or its function's name. */
  readonly name: string;
  readonly key: string;
  /** Labels from the requested node down to this one. */
  readonly path: readonly string[];
}

/** A node was not run because a node it depends on failed. */
export class DependencyFailedError extends SkeinError {
  readonly node: NodeInfo;
  readonly dependency: NodeInfo;

  constructor(node: NodeInfo, dependency: NodeInfo, cause: unknown) {
    const reason = typeof cause === 'object' && cause !== null && 'message' in cause ? `: ${String(cause.message)}` : '';
    super(`Node \`${node.name}\` (${node.key}) was not run: its dependency \`${dependency.name}\` (${dependency.key}) failed${reason}`, {
      code: 'ERR_SKEIN_DEPENDENCY_FAILED',
      cause,
    });
    this.node = node;
    this.dependency = dependency;
  }
}

/** A graph could not be built or hashed (an argument of a pure node that cannot be serialized). */
export class GraphError extends SkeinError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'ERR_SKEIN_GRAPH', cause });
  }
}

registerErrorClass(DependencyFailedError, 'ERR_SKEIN_DEPENDENCY_FAILED');
registerErrorClass(GraphError, 'ERR_SKEIN_GRAPH');
