import { test } from 'bun:test';
import { codecSmokeTests } from '@aperture-export/codec/testing';

codecSmokeTests(test);
