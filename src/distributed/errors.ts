import { SkeinError, registerErrorClass } from '../core/errors.js';

/**
 * A batch's job can no longer complete because Redis lost it or cannot be
 * reached: the server restarted (without persistence the queue is gone), was
 * flushed, or stayed unreachable longer than `reconnectGrace`.
 */
export class QueueLostError extends SkeinError {
  readonly queue: string;
  readonly taskIndex: number;

  constructor(queue: string, taskIndex: number, reason: string) {
    super(`The batch from task ${taskIndex} on queue \`${queue}\` was lost: ${reason}`, { code: 'ERR_SKEIN_QUEUE_LOST' });
    this.queue = queue;
    this.taskIndex = taskIndex;
  }
}

registerErrorClass(QueueLostError, 'ERR_SKEIN_QUEUE_LOST');
