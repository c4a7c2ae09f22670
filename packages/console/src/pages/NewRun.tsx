import { useState } from 'preact/hooks';
import { useConsole } from '../context';
import { useAction } from '../hooks';
import { hrefOf, navigate } from '../route';
import { ErrorNote, Page } from '../ui';

/** Starts a run and opens its page, where its output streams in. */
export function NewRun() {
  const { rw, can, signOut } = useConsole();
  const [prompt, setPrompt] = useState('');
  const [model, setModel] = useState('demo/echo');
  const [maxTokens, setMaxTokens] = useState('512');
  const action = useAction();
  if (!can.create) return <Page title="New run">{<p class="empty">This link cannot start runs.</p>}</Page>;
  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const run = await rw.runs.create({ prompt, model: model.trim(), maxTokens: Number(maxTokens) });
      navigate(hrefOf.run(run.id));
    });
  };
  return (
    <Page title="New run">
      <form class="stack" onSubmit={submit}>
        <label for="prompt">Prompt</label>
        <textarea id="prompt" rows={6} required value={prompt} onInput={(e) => setPrompt(e.currentTarget.value)} />
        <div class="row">
          <div class="field">
            <label for="model">Model</label>
            <input id="model" list="models" required value={model} onInput={(e) => setModel(e.currentTarget.value)} />
            <datalist id="models">
              <option value="demo/echo" />
            </datalist>
          </div>
          <div class="field">
            <label for="max-tokens">Max tokens</label>
            <input id="max-tokens" type="number" min={1} step={1} required value={maxTokens} onInput={(e) => setMaxTokens(e.currentTarget.value)} />
          </div>
        </div>
        <div class="actions">
          <button type="submit" disabled={action.pending}>
            Start run
          </button>
          <a href={hrefOf.runs()}>Cancel</a>
        </div>
      </form>
      <ErrorNote error={action.error} onSignOut={signOut} />
    </Page>
  );
}
