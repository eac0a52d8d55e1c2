/**
 * Reads a node's editor file (nodes/<type>.html) the way the Flow Library scorecard does: the
 * `RED.nodes.registerType('<literal>', { ...object literal })` call, parsed with acorn, so tests can look at
 * its category, icon, inputs/outputs and the property names of `defaults`.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as acorn from 'acorn';

const ROOT = resolve(__dirname, '../../..');

type AnyNode = acorn.Node & Record<string, unknown>;

export interface Registration {
  type: string;
  /** Properties of the definition object literal, by name. */
  props: Map<string, acorn.Node>;
  /** Property names of `defaults` (when it is an object literal). */
  defaults: string[];
}

/** JavaScript of an editor file: every <script> that is not a template or help (text/html, text/x-red). */
export function editorScripts(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    const type = /type\s*=\s*["']([^"']+)["']/i.exec(m[1] ?? '')?.[1]?.toLowerCase();
    if (type === undefined || type === 'text/javascript' || type === 'module') out.push(m[2] ?? '');
  }
  return out;
}

function walk(node: unknown, visit: (n: AnyNode) => void): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, visit);
    return;
  }
  if (node === null || typeof node !== 'object' || typeof (node as { type?: unknown }).type !== 'string') return;
  visit(node as AnyNode);
  for (const [key, value] of Object.entries(node)) {
    if (key !== 'type' && value !== null && typeof value === 'object') walk(value, visit);
  }
}

function objectProps(obj: AnyNode): Map<string, acorn.Node> {
  const props = new Map<string, acorn.Node>();
  for (const p of obj['properties'] as AnyNode[]) {
    if (p.type !== 'Property') continue;
    const key = p['key'] as AnyNode;
    const name = key.type === 'Identifier' ? (key['name'] as string) : String(key['value']);
    props.set(name, p['value'] as acorn.Node);
  }
  return props;
}

/** Every `RED.nodes.registerType('<literal>', {object literal})` call in an editor file. */
export function registrations(html: string): Registration[] {
  const found: Registration[] = [];
  for (const script of editorScripts(html)) {
    const ast = acorn.parse(script, { ecmaVersion: 'latest', sourceType: 'script' });
    walk(ast, (n) => {
      if (n.type !== 'CallExpression') return;
      const callee = n['callee'] as AnyNode;
      if (script.slice(callee.start, callee.end).replace(/\s+/g, '') !== 'RED.nodes.registerType') return;
      const [typeArg, defArg] = n['arguments'] as AnyNode[];
      if (typeArg?.type !== 'Literal' || typeof typeArg['value'] !== 'string' || defArg?.type !== 'ObjectExpression') return;
      const props = objectProps(defArg);
      const defaultsNode = props.get('defaults') as AnyNode | undefined;
      const defaults = defaultsNode?.type === 'ObjectExpression' ? [...objectProps(defaultsNode).keys()] : [];
      found.push({ type: typeArg['value'], props, defaults });
    });
  }
  return found;
}

/** The registration of `type` in nodes/<type>.html, or undefined. */
export function editorRegistration(type: string): Registration | undefined {
  const html = readFileSync(join(ROOT, 'nodes', `${type}.html`), 'utf8');
  return registrations(html).find((r) => r.type === type);
}

/** The value of a literal node (string, number, boolean), else undefined. */
export function literal(node: acorn.Node | undefined): unknown {
  const n = node as AnyNode | undefined;
  return n?.type === 'Literal' ? n['value'] : undefined;
}
