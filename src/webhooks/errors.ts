import { DomainError } from '../runs/errors';

/** A webhook URL the platform will not call (scheme, credentials, or an address it must not reach). */
export class InvalidWebhookUrl extends DomainError {
  override name = 'InvalidWebhookUrl';
  constructor(readonly reason: string) {
    super(`the webhook url is refused: ${reason}`);
  }
}

/** The account's cap on webhook endpoints is reached. */
export class TooManyWebhooks extends DomainError {
  override name = 'TooManyWebhooks';
  constructor(readonly maxWebhooks: number) {
    super(`the account already has ${maxWebhooks} webhook endpoints; delete one first`);
  }
}

/** A delivery was sent again by hand as often as allowed. */
export class TooManyRedeliveries extends DomainError {
  override name = 'TooManyRedeliveries';
  constructor(readonly maxRedeliveries: number) {
    super(`this delivery was already sent again ${maxRedeliveries} times`);
  }
}
