/**
 * The Settings page: the config in CodeMirror (HuJSON highlighted as JSON with comments, line
 * numbers), Save and Test connection through the admin API, each error shown at its line
 * and in a list beside the editor.
 */
import { json } from '@codemirror/lang-json';
import { type Diagnostic, lintGutter, setDiagnostics } from '@codemirror/lint';
import { basicSetup, EditorView } from 'codemirror';
import { api, element } from './api.ts';

interface Issue {
  path: string;
  message: string;
  line?: number;
}

const textarea = document.getElementById('config-text') as HTMLTextAreaElement;
const problems = document.getElementById('config-problems') as HTMLElement;

const view = new EditorView({
  doc: textarea.value,
  extensions: [
    basicSetup,
    json(),
    lintGutter(),
    EditorView.contentAttributes.of({ 'aria-labelledby': 'config-label' }),
    // Through CodeMirror: it rewrites its element's classes, and one added by hand was lost.
    EditorView.editorAttributes.of({ class: 'editor' }),
  ],
});
textarea.hidden = true;
textarea.after(view.dom);

function goToLine(line: number) {
  const at = view.state.doc.line(Math.min(line, view.state.doc.lines));
  view.dispatch({ selection: { anchor: at.from }, scrollIntoView: true });
  view.focus();
}

function showIssues(title: string, issues: Issue[], kind: 'error' | 'warning') {
  const diagnostics: Diagnostic[] = issues.flatMap((issue) => {
    if (issue.line === undefined) return [];
    const line = view.state.doc.line(Math.min(issue.line, view.state.doc.lines));
    return [
      {
        from: line.from,
        to: line.to,
        severity: kind,
        message: `${issue.path ? `${issue.path}: ` : ''}${issue.message}`,
      },
    ];
  });
  view.dispatch(setDiagnostics(view.state, diagnostics));
  problems.replaceChildren(element('p', title, { class: kind === 'error' ? 'alert' : 'notice' }));
  const list = element('ul', undefined, { class: 'issues' });
  for (const issue of issues) {
    const item = element('li', undefined, { 'data-path': issue.path });
    if (issue.line !== undefined) {
      const link = element('button', `line ${issue.line}`, { type: 'button', class: 'link' });
      link.addEventListener('click', () => goToLine(issue.line!));
      item.append(link, ' ');
    }
    item.append(element('code', issue.path || 'syntax'), ` ${issue.message}`);
    list.append(item);
  }
  problems.append(list);
}

function showMessage(text: string, kind: 'ok' | 'error') {
  view.dispatch(setDiagnostics(view.state, []));
  problems.replaceChildren(element('p', text, { class: kind === 'ok' ? 'success' : 'alert' }));
}

function busy(button: HTMLButtonElement, work: () => Promise<void>) {
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await work();
    } catch (error) {
      showMessage(`Could not reach the server: ${(error as Error).message}`, 'error');
    } finally {
      button.disabled = false;
    }
  });
}

busy(document.querySelector('[data-action="save-config"]')!, async () => {
  const answer = await api<{ errors?: Issue[]; warnings?: Issue[]; error?: string }>(
    'PUT',
    '/api/config',
    view.state.doc.toString(),
  );
  if (answer.ok) {
    const warnings = answer.body.warnings ?? [];
    if (warnings.length) showIssues('Saved and applied, with warnings:', warnings, 'warning');
    else showMessage('Saved and applied.', 'ok');
    return;
  }
  if (answer.body.errors) showIssues('Not saved: fix these first.', answer.body.errors, 'error');
  else showMessage(`Not saved: ${answer.body.error ?? answer.status}`, 'error');
});

busy(document.querySelector('[data-action="test-connection"]')!, async () => {
  problems.replaceChildren(element('p', 'Testing the connection…', { class: 'muted' }));
  const answer = await api<{
    ok: boolean;
    bucket?: string;
    errors?: Issue[];
    step?: string;
    permission?: string;
    error?: { code: string; message: string; status?: number };
  }>('POST', '/api/export/test', view.state.doc.toString());
  const body = answer.body;
  if (body.ok) {
    showMessage(
      `Connection works: every request the exporter makes to bucket ${body.bucket} succeeded.`,
      'ok',
    );
  } else if (body.errors) {
    showIssues('The configuration in the editor has errors:', body.errors, 'error');
  } else if (body.error) {
    const needs = body.permission ? ` It needs the ${body.permission} permission.` : '';
    // The message starts with S3's code already, and often ends with S3's own full stop.
    const said = body.error.message.replace(/\.*$/, '.');
    showMessage(`Connection failed at "${body.step}": ${said}${needs}`, 'error');
  } else {
    showMessage(`Connection test failed: ${answer.status}`, 'error');
  }
});
