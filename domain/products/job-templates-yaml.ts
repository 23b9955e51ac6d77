// openQA's JobTemplates-01 YAML for one job group, parsed and checked; pure.
//
//   defaults:            # per architecture: machine (name or list), priority, settings
//     x86_64: { machine: 64bit, priority: 50 }
//   products:            # names used below → distri/flavor/version (arch from the scenario key)
//     debian-12-netinst-x86_64: { distri: debian, flavor: netinst, version: '12' }
//   scenarios:
//     x86_64:
//       debian-12-netinst-x86_64:
//         - boot                     # a test suite with the defaults
//         - install:                 # a test suite with overrides
//             machine: [64bit, uefi]
//             priority: 40
//             settings: { FOO: bar }
//         - install_de:              # a renamed test: `testsuite` names the suite it runs
//             testsuite: install
//             settings: { LANG: de }
import { parse, stringify } from 'yaml';

export interface TemplateEntry {
  product: { distri: string; flavor: string; version: string; arch: string };
  machine: string;
  testSuite: string;
  /** The test's name when it differs from the suite's (YAML key with `testsuite:`), else ''. */
  name: string;
  prio: number;
  settings: Record<string, string>;
  description: string;
}

export interface ParsedTemplates {
  entries: TemplateEntry[];
  errors: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringMap(value: unknown, where: string, errors: string[]): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObj(value)) {
    errors.push(`${where}: settings must be a mapping of names to values`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'object' && v !== null) errors.push(`${where}: setting ${k} must be a string or number`);
    else out[k] = v === null || v === undefined ? '' : String(v);
  }
  return out;
}

function machines(value: unknown, where: string, errors: string[]): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((m) => typeof m === 'string')) return value as string[];
  errors.push(`${where}: machine must be a name or a list of names`);
  return [];
}

export function parseJobTemplatesYaml(text: string): ParsedTemplates {
  const errors: string[] = [];
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    return { entries: [], errors: [`YAML syntax: ${(error as Error).message.split('\n')[0]}`] };
  }
  if (!isObj(doc))
    return { entries: [], errors: ['the template must be a mapping with products and scenarios'] };
  for (const key of Object.keys(doc)) {
    if (!['defaults', 'products', 'scenarios'].includes(key))
      errors.push(`/${key}: unknown top-level key (allowed: defaults, products, scenarios)`);
  }
  const defaults = doc.defaults === undefined ? {} : doc.defaults;
  const products = doc.products;
  const scenarios = doc.scenarios;
  if (!isObj(defaults)) errors.push('/defaults must be a mapping of architectures');
  if (!isObj(products)) errors.push('/products is required: a mapping of product names');
  if (scenarios !== undefined && !isObj(scenarios))
    errors.push('/scenarios must be a mapping of architectures');
  if (errors.length > 0) return { entries: [], errors };
  const entries: TemplateEntry[] = [];
  const seen = new Set<string>();
  for (const [arch, byProduct] of Object.entries((scenarios ?? {}) as Obj)) {
    const archDefaults = isObj((defaults as Obj)[arch]) ? ((defaults as Obj)[arch] as Obj) : undefined;
    if (!archDefaults) {
      errors.push(
        `/defaults/${arch}: missing (every architecture in scenarios needs its defaults, at least machine and priority)`,
      );
      continue;
    }
    if (!isObj(byProduct)) {
      errors.push(`/scenarios/${arch}: must be a mapping of product names to test lists`);
      continue;
    }
    for (const [productName, tests] of Object.entries(byProduct)) {
      const p = (products as Obj)[productName];
      const where = `/scenarios/${arch}/${productName}`;
      if (!isObj(p)) {
        errors.push(`${where}: product ${productName} is not defined under /products`);
        continue;
      }
      if (typeof p.distri !== 'string' || typeof p.flavor !== 'string') {
        errors.push(`/products/${productName}: distri and flavor are required`);
        continue;
      }
      const product = {
        distri: p.distri,
        flavor: p.flavor,
        version: p.version === undefined ? '*' : String(p.version),
        arch,
      };
      if (!Array.isArray(tests)) {
        errors.push(`${where}: must be a list of test suites`);
        continue;
      }
      tests.forEach((item, index) => {
        const at = `${where}/${index}`;
        let key: string;
        let spec: Obj = {};
        if (typeof item === 'string') key = item;
        else if (isObj(item) && Object.keys(item).length === 1) {
          key = Object.keys(item)[0] as string;
          const v = item[key];
          if (v !== null && !isObj(v)) {
            errors.push(`${at}: the options of ${key} must be a mapping`);
            return;
          }
          spec = (v ?? {}) as Obj;
        } else {
          errors.push(`${at}: each entry is a test suite name or a one-key mapping name → options`);
          return;
        }
        for (const k of Object.keys(spec)) {
          if (!['machine', 'priority', 'settings', 'testsuite', 'description'].includes(k))
            errors.push(`${at}/${key}: unknown option ${k}`);
        }
        const prio = spec.priority ?? archDefaults.priority ?? 50;
        if (typeof prio !== 'number' || !Number.isInteger(prio)) {
          errors.push(`${at}/${key}: priority must be an integer`);
          return;
        }
        const machineNames = machines(spec.machine ?? archDefaults.machine, `${at}/${key}`, errors);
        const suite = spec.testsuite === undefined ? key : spec.testsuite;
        if (typeof suite !== 'string') {
          errors.push(`${at}/${key}: testsuite must be a test suite name`);
          return;
        }
        const settings = {
          ...stringMap(archDefaults.settings, `/defaults/${arch}`, errors),
          ...stringMap(spec.settings, `${at}/${key}`, errors),
        };
        for (const machine of machineNames) {
          const name = suite === key ? '' : key;
          const id = `${product.distri}|${product.version}|${product.flavor}|${arch}|${machine}|${suite}|${name}`;
          if (seen.has(id)) {
            errors.push(`${at}/${key}: ${key} on ${machine} for ${productName} is listed twice`);
            continue;
          }
          seen.add(id);
          entries.push({
            product,
            machine,
            testSuite: suite,
            name,
            prio,
            settings,
            description: typeof spec.description === 'string' ? spec.description : '',
          });
        }
      });
    }
  }
  return { entries, errors };
}

/** The same templates with every default applied (openQA's `expand=1`), as YAML. */
export function expandedYaml(
  entries: readonly TemplateEntry[],
  productNames: ReadonlyMap<string, string>,
): string {
  const products: Obj = {};
  const scenarios: Record<string, Record<string, unknown[]>> = {};
  for (const e of entries) {
    const key = `${e.product.distri}|${e.product.version}|${e.product.flavor}|${e.product.arch}`;
    const name =
      productNames.get(key) ??
      `${e.product.distri}-${e.product.version}-${e.product.flavor}-${e.product.arch}`;
    products[name] = { distri: e.product.distri, flavor: e.product.flavor, version: e.product.version };
    const testKey = e.name || e.testSuite;
    const spec: Obj = { machine: e.machine, priority: e.prio };
    if (e.name) spec.testsuite = e.testSuite;
    if (Object.keys(e.settings).length > 0) spec.settings = e.settings;
    if (e.description) spec.description = e.description;
    const byProduct = scenarios[e.product.arch] ?? {};
    byProduct[name] = [...(byProduct[name] ?? []), { [testKey]: spec }];
    scenarios[e.product.arch] = byProduct;
  }
  return stringify({ products, scenarios });
}
