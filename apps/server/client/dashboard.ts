/** Every signed-in page: the Export page's buttons. */
import { api } from './api.ts';

function onAction(name: string, handler: (button: HTMLButtonElement) => Promise<void>) {
  for (const button of document.querySelectorAll<HTMLButtonElement>(`[data-action="${name}"]`)) {
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await handler(button);
      } finally {
        button.disabled = false;
      }
    });
  }
}

const resultFor = (name: string) => document.querySelector<HTMLElement>(`[data-result="${name}"]`);

onAction('export-now', async () => {
  const result = resultFor('export-now');
  if (result) result.textContent = 'Exporting…';
  const answer = await api<{
    files?: number;
    records?: number;
    error?: { code?: string; message?: string } | string;
  }>('POST', '/api/export/run');
  if (answer.ok) {
    const files = answer.body.files ?? 0;
    const records = answer.body.records ?? 0;
    sessionStorage.setItem(
      'export-result',
      files === 0
        ? 'Nothing was waiting to be exported.'
        : `Wrote ${files} file${files === 1 ? '' : 's'} with ${records} record${records === 1 ? '' : 's'}.`,
    );
    location.reload();
    return;
  }
  const error = answer.body.error;
  if (result)
    result.textContent = `Export failed: ${typeof error === 'object' ? `${error.code ?? ''} ${error.message ?? ''}` : (error ?? answer.status)}`;
});

onAction('release-claim', async (button) => {
  const id = button.dataset.claim ?? '';
  if (
    !confirm(
      'Release this file? Its records will be exported again to the current bucket; if the file reached its old destination, they will be in both.',
    )
  )
    return;
  const answer = await api('POST', `/api/export/claims/${encodeURIComponent(id)}/release`);
  if (answer.ok) location.reload();
  else alert(String(answer.body.error ?? answer.status));
});

// What "Export now" did, shown after the reload that brings the new state.
const done = sessionStorage.getItem('export-result');
if (done) {
  sessionStorage.removeItem('export-result');
  const result = resultFor('export-now');
  if (result) result.textContent = done;
}
