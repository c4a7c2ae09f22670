import type { ModelProvider } from './types';

/** Finds the provider serving a `<provider>/<model>` name. */
export class ProviderRegistry {
  constructor(private readonly providers: ModelProvider[]) {}

  find(model: string): ModelProvider | undefined {
    return this.providers.find((p) => p.supports(model));
  }
}
