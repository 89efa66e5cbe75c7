/** Scaffolds for New Model File. */
interface Template {
  id: string;
  label: string;
  detail: string;
  text: string;
}

const header = (name: string, comment: string): string => `{
  // ${comment}
  "name": "${name}",
  "seed": 0,`;

export const TEMPLATES: Template[] = [
  {
    id: 'relu-classifier',
    label: 'ReLU classifier (He init)',
    detail: '3 hidden ReLU layers, softmax cross-entropy, synthetic data',
    text: `${header('relu-classifier', 'ReLU layers with He init keep Var(z_l) ≈ Var(a_{l-1}).')}
  "input": { "size": 64 },
  "layers": [
    { "units": 128, "activation": "relu", "init": "he_normal" },
    { "units": 128, "activation": "relu", "init": "he_normal" },
    { "units": 128, "activation": "relu", "init": "he_normal" },
    { "units": 10, "activation": "linear", "init": "xavier_uniform" }
  ],
  "loss": "cross_entropy",
  "data": { "source": "synthetic", "samples": 4096, "inputStd": 1.0, "task": "classification", "classes": 10 },
  "training": { "optimizer": "adam", "learningRate": 0.001, "batchSize": 64, "steps": 500 }
}
`,
  },
  {
    id: 'tanh-regression',
    label: 'tanh regression (Xavier init)',
    detail: 'tanh layers, mean squared error, gradient clipping',
    text: `${header('tanh-regression', 'tanh layers with Xavier init stay out of saturation.')}
  "input": { "size": 16 },
  "layers": [
    { "units": 64, "activation": "tanh", "init": "xavier_uniform" },
    { "units": 64, "activation": "tanh", "init": "xavier_uniform" },
    { "units": 1, "activation": "linear", "init": "xavier_uniform" }
  ],
  "loss": "mse",
  "data": { "source": "synthetic", "samples": 2048, "inputStd": 1.0, "task": "regression" },
  "training": { "optimizer": "momentum", "learningRate": 0.01, "momentum": 0.9, "batchSize": 32, "steps": 500,
                "clip": { "mode": "norm", "max": 1.0 } }
}
`,
  },
  {
    id: 'selu-snn',
    label: 'Self-normalizing net (SELU, LeCun init)',
    detail: '8 SELU layers with LeCun init: Var(z) stays at 1 layer after layer',
    text: `${header('selu-snn', 'SELU with LeCun init (Var(W) = 1/fan_in) holds Var(z) at 1, its fixed point.')}
  "input": { "size": 64 },
  "layers": [
    { "units": 128, "activation": "selu", "init": "lecun_normal" },
    { "units": 128, "activation": "selu", "init": "lecun_normal" },
    { "units": 128, "activation": "selu", "init": "lecun_normal" },
    { "units": 128, "activation": "selu", "init": "lecun_normal" },
    { "units": 128, "activation": "selu", "init": "lecun_normal" },
    { "units": 128, "activation": "selu", "init": "lecun_normal" },
    { "units": 128, "activation": "selu", "init": "lecun_normal" },
    { "units": 128, "activation": "selu", "init": "lecun_normal" },
    { "units": 10, "activation": "linear", "init": "xavier_uniform" }
  ],
  "loss": "cross_entropy",
  "data": { "source": "synthetic", "samples": 4096, "inputStd": 1.0, "task": "classification", "classes": 10 },
  "training": { "optimizer": "sgd", "learningRate": 0.01, "batchSize": 64, "steps": 500 }
}
`,
  },
  {
    id: 'csv',
    label: 'From a CSV file',
    detail: 'features and a class column from data.csv next to this file',
    text: `${header('csv-model', 'Every CSV column but the target is an input feature; the target holds class indices 0…C−1.')}
  "input": { "size": 4 },
  "layers": [
    { "units": 32, "activation": "leaky_relu", "alpha": 0.01, "init": "he_uniform" },
    { "units": 3, "activation": "linear", "init": "xavier_uniform" }
  ],
  "loss": "cross_entropy",
  "data": { "source": "csv", "path": "data.csv", "target": "label", "header": true },
  "training": { "optimizer": "adam", "learningRate": 0.01, "batchSize": 32, "steps": 300 }
}
`,
  },
];
